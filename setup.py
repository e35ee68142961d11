"""Build script: the optional compiled speed-up of the request path.

Everything else is declared in ``pyproject.toml``. The modules listed in
``squall/_compiled.py`` (the HTTP/1.1 protocol layer ``squall/_http1``, ``squall.httputil``,
and the web layer's ``RequestHandler`` and ``Application``) are compiled to C with mypyc when a
wheel is built (``pip install .`` or ``pip install squall``); their ``.py`` sources are
installed too and are the pure-Python fallback, which runs the same tests.

- ``SQUALL_PURE_PYTHON=1`` skips the compilation.
- An editable install (``pip install -e .``) stays pure Python unless ``SQUALL_COMPILE=1``
  is set: compiled modules beside the sources would hide edits until they are rebuilt.
  ``scripts/build-ext`` compiles in place; ``scripts/build-ext --clean`` removes them.
- When mypyc or the C compiler fails, the build goes on without the extension (a warning
  says why) and squall runs as pure Python.

``build_py`` also puts ``squall-tornado-alias.pth`` (from ``squall/compat/tornado-alias.pth``)
at the top of the wheel, so that it lands in site-packages: the startup hook that gives Python
child processes the ``tornado`` alias when ``SQUALL_TORNADO_ALIAS`` is set. An editable install
gets it too.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent


def _compiled_modules() -> tuple[list[str], str]:
    """``MODULES`` and ``GROUP`` from squall/_compiled.py, read without importing squall
    (whose dependencies the build environment does not have)."""
    namespace: dict[str, object] = {}
    tree = ast.parse((HERE / "squall" / "_compiled.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in ("MODULES", "GROUP"):
                    namespace[target.id] = ast.literal_eval(node.value)  # type: ignore[arg-type]
    return list(namespace["MODULES"]), str(namespace["GROUP"])  # type: ignore[call-overload]


COMPILED, GROUP = _compiled_modules()


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
        return list(mypycify([*options, *COMPILED], opt_level="3", group_name=GROUP))
    except (Exception, SystemExit) as e:  # mypyc reports type errors by exiting
        _warn(f"mypyc could not compile the request path ({e!r})")
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


PTH_SOURCE = HERE / "squall" / "compat" / "tornado-alias.pth"
PTH_NAME = "squall-tornado-alias.pth"  # squall.compat.HOOK_NAME


class BuildPyWithHook(build_py):
    """``build_py``, plus the tornado alias's ``.pth`` startup hook beside the packages.

    A wheel installs what is at its top into site-packages. An editable wheel is made of the
    ``install`` command's directory (plus a path hook to the sources), not of ``build_lib``:
    in editable mode the hook goes there."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            target = Path(self.get_finalized_command("install").install_lib)
        else:
            target = Path(self.build_lib)
        target.mkdir(parents=True, exist_ok=True)
        self.copy_file(str(PTH_SOURCE), str(target / PTH_NAME), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs.append(str(Path(self.build_lib) / PTH_NAME))
        return outputs


setup(
    ext_modules=_ext_modules(),
    cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithHook},
)
