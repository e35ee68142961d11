"""Polling source watcher for the forking parent's reload (``debug=True`` with ``start(n)``).

The parent has the application's modules imported (it built the app before forking), so it
watches their files. A change to a file that still compiles triggers a reload; one that does
not compile is reported with its error and the old processes keep serving. Standard library
only: the supervisor knows nothing of HTTP or of the event loop.
"""

from __future__ import annotations

import os
import sys
import traceback

from squall.log import gen_log

__all__ = ["SourceWatch"]


class SourceWatch:
    """Remembers the mtimes of loaded modules' source files; reports what changed."""

    def __init__(self) -> None:
        self._mtimes: dict[str, float] = {}
        self._broken: dict[str, float] = {}
        for path in self._files():
            self._mtimes[path] = self._mtime(path)

    @staticmethod
    def _files() -> list[str]:
        files = []
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if path and path.endswith(".py"):
                files.append(path)
        return files

    @staticmethod
    def _mtime(path: str) -> float:
        try:
            return os.stat(path).st_mtime
        except OSError:
            return 0.0

    def changed(self) -> str | None:
        """The first source file changed since the last call that compiles, else None.

        A changed file with a syntax error is logged (once per version) and ignored."""
        for path in self._files():
            mtime = self._mtime(path)
            if self._mtimes.setdefault(path, mtime) == mtime:
                continue
            if self._broken.get(path) == mtime:
                continue
            try:
                with open(path, "rb") as source:
                    compile(source.read(), path, "exec")
            except (SyntaxError, ValueError, OSError):
                self._broken[path] = mtime
                gen_log.error(
                    "Not reloading: %s does not compile; the running processes keep serving\n%s",
                    path,
                    traceback.format_exc(),
                )
                continue
            self._mtimes[path] = mtime
            return path
        return None
