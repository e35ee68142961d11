"""Build script: the optional compiled speed-up of the protocol layer.

Everything else is declared in ``pyproject.toml``. The modules of ``squall/_http1`` (the
HTTP/1.1 protocol: parser callbacks, request queue, response heads) are compiled to C with
mypyc when a wheel is built (``pip install .`` or ``pip install squall``); their ``.py``
sources are installed too and are the pure-Python fallback, which runs the same tests.

- ``SQUALL_PURE_PYTHON=1`` skips the compilation.
- An editable install (``pip install -e .``) stays pure Python unless ``SQUALL_COMPILE=1``
  is set: compiled modules beside the sources would hide edits until they are rebuilt.
  ``scripts/build-ext`` compiles in place; ``scripts/build-ext --clean`` removes them.
- When mypyc or the C compiler fails, the build goes on without the extension (a warning
  says why) and squall runs as pure Python.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
COMPILED = sorted(
    str(p.relative_to(HERE))
    for p in (HERE / "squall" / "_http1").glob("*.py")
    # __init__ re-exports and checks staleness; errors holds exception classes, which must
    # stay ordinary Python classes.
    if p.name not in ("__init__.py", "errors.py")
)


def _warn(message: str) -> None:
    print(f"squall: {message}; installing the pure-Python version", file=sys.stderr)


def _wanted() -> bool:
    if os.environ.get("SQUALL_PURE_PYTHON"):
        return False
    editable = any(arg.startswith("editable") for arg in sys.argv[1:])
    return not editable or bool(os.environ.get("SQUALL_COMPILE"))


def _ext_modules() -> list[object]:
    if not _wanted():
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _warn("mypyc is not available")
        return []
    try:
        # The build environment has only setuptools and mypy, not squall's dependencies: type
        # errors elsewhere (an import that resolves differently without them) must not stop
        # the compilation of modules that type-check.
        options = ["--follow-imports=silent", "--no-warn-unused-ignores"]
        return list(mypycify([*options, *COMPILED], opt_level="3", group_name="squall._http1"))
    except (Exception, SystemExit) as e:  # mypyc reports type errors by exiting
        _warn(f"mypyc could not compile the protocol layer ({e!r})")
        return []


class OptionalBuildExt(build_ext):
    """``build_ext`` that falls back to pure Python when the C compiler fails.

    The compiled modules share one runtime library, so it is all or nothing: after any
    failure every built file is removed again."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:
            _warn(f"the C extension did not build ({e})")
            for output in self.get_outputs():
                Path(output).unlink(missing_ok=True)


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
