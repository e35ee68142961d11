"""``python -m squall.tornado``: run a Tornado program, unmodified, on squall.

    python -m squall.tornado app.py --port=8000     # a script, with its arguments
    python -m squall.tornado -m pytest tests/       # a module, as ``python -m`` runs it
    python -m squall.tornado -c "import tornado; print(tornado.version)"

The calling convention is ``python``'s own: ``-m module``, ``-c command``, a script path (or
``-`` for standard input), then the program's arguments, which become ``sys.argv[1:]``;
``sys.argv[0]`` and ``sys.path[0]`` are what ``python`` would set. The alias is installed first
(``squall.compat.install_tornado_alias``), so every ``tornado`` import is squall's, and
``SQUALL_TORNADO_ALIAS=1`` is set for Python child processes. The exit status is the program's.
"""

from __future__ import annotations

import os
import runpy
import sys
import types
import zipfile
from typing import NoReturn

from squall.compat import install_tornado_alias

__all__ = ["USAGE", "main"]

USAGE = """\
usage: python -m squall.tornado [-m module | -c command | script.py | -] [args...]

Run a Tornado program unmodified on squall: every `tornado` import is squall's module of the
same name. Python child processes inherit this through the SQUALL_TORNADO_ALIAS variable.
Options for Python itself go before `-m squall.tornado`. Examples:
  python -m squall.tornado app.py --port=8000
  python -m squall.tornado -m pytest tests/
"""

_PROG = "python -m squall.tornado"


def _fail(message: str, status: int = 2) -> NoReturn:
    print(f"{_PROG}: error: {message}", file=sys.stderr)
    if status == 2:
        print(USAGE, file=sys.stderr, end="")
    raise SystemExit(status)


def _option(args: list[str], flag: str) -> tuple[str, list[str]] | None:
    """``-m name rest...`` or ``-mname rest...``: the value and the rest; None if not ``flag``."""
    first = args[0]
    if first == flag:
        if len(args) < 2:
            _fail(f"argument {flag}: expected a value")
        return args[1], args[2:]
    if first.startswith(flag):
        return first[len(flag) :], args[1:]
    return None


def main(argv: list[str] | None = None) -> None:
    """Install the alias and run the program ``argv`` names (default: ``sys.argv[1:]``).

    Returns when the program returns; its ``SystemExit`` (and any exception) propagates.
    Exits with status 2 on a usage error, and 1 if real Tornado was imported already."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        _fail("nothing to run: give a script, -m module or -c command")
    if args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return
    if args[0].startswith("-") and args[0] != "-" and args[0][:2] not in ("-m", "-c"):
        _fail(f"unknown option {args[0]!r}")
    try:
        install_tornado_alias()
    except RuntimeError as exc:
        _fail(str(exc), status=1)
    if (module := _option(args, "-m")) is not None:
        name, rest = module
        sys.argv = [name, *rest]  # runpy puts the module's file in sys.argv[0]
        runpy.run_module(name, run_name="__main__", alter_sys=True)
    elif (command := _option(args, "-c")) is not None:
        source, rest = command
        _run_source(source, "<string>", ["-c", *rest])
    elif args[0] == "-":
        _run_source(sys.stdin.read(), "<stdin>", args)
    else:
        path = args[0]
        if not os.path.exists(path):
            _fail(f"can't open file {path!r}: no such file or directory")
        sys.argv = list(args)
        if os.path.isfile(path) and not zipfile.is_zipfile(path):
            # As `python script.py` does; for a directory or zip file (which runs its
            # __main__), runpy puts the path itself first.
            sys.path[0] = os.path.dirname(os.path.realpath(path))
        runpy.run_path(path, run_name="__main__")


def _run_source(source: str, filename: str, argv: list[str]) -> None:
    """Run ``source`` as the ``__main__`` module, as ``python -c`` and ``python -`` do."""
    sys.argv = argv
    sys.path[0] = ""
    main_module = types.ModuleType("__main__")
    main_module.__builtins__ = __builtins__  # type: ignore[attr-defined]  # as python sets it
    sys.modules["__main__"] = main_module
    exec(compile(source, filename, "exec"), main_module.__dict__)


if __name__ == "__main__":
    main()
