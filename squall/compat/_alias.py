"""The ``tornado`` import alias: a meta path finder whose modules are squall's own.

Rules:
1. ``tornado.X`` is ``squall.X`` itself (the loader returns the squall module; nothing is
   executed twice), for every public squall module and ``_locale_data``. Anything else raises
   ``ModuleNotFoundError`` from ``find_spec``, naming the squall module that is missing: an
   import of ``tornado.X`` must never fall through to an installed Tornado.
2. ``tornado`` is a package module of its own, made here, with an empty ``__path__``.
3. This module imports only the standard library at import time: the ``.pth`` hook imports it
   at interpreter startup, before the program.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import site
import sys
import sysconfig
from collections.abc import Callable, Sequence
from types import CodeType, ModuleType
from typing import Any, Final

__all__ = [
    "ENV_VAR",
    "HOOK_NAME",
    "TORNADO_VERSION",
    "TORNADO_VERSION_INFO",
    "hook_installed",
    "install_tornado_alias",
    "tornado_alias_installed",
    "uninstall_tornado_alias",
]

#: The environment variable that makes a starting Python process install the alias (through
#: the ``.pth`` hook). Any value but empty or ``0`` turns it on.
ENV_VAR: Final = "SQUALL_TORNADO_ALIAS"
#: The startup hook's file name in site-packages (sorted after setuptools' editable hooks, so
#: that an editable squall is importable when it runs).
HOOK_NAME: Final = "squall-tornado-alias.pth"
#: The Tornado API level squall implements, reported as ``tornado.version`` under the alias:
#: the newest Tornado release whose additions (its release notes) squall has in full. 6.5.10:
#: ``HTTPError.get_message`` (6.5.0), ``ParseMultipartConfig`` and checked cookie attributes
#: (6.5.5), credentials dropped on cross-origin redirects (6.5.6), ``ParseBodyConfig`` and
#: ``set_parse_body_config`` (6.5.8); ``StaticFileHandler``'s ``allowed_symlink_directory``,
#: the client's body limit on close-delimited responses and its cap of 10 ``100 Continue``
#: answers, the field limit on query strings and ``read_until_close``'s errors (6.5.9); a
#: list of directories for ``allowed_symlink_directory`` (6.5.10). 6.5.9's
#: ``curl_httpclient.max_body_size`` has no counterpart: squall has no curl client. Raise it
#: here, with its test, when squall has more.
TORNADO_VERSION: Final = "6.5.10"
#: :data:`TORNADO_VERSION` as Tornado's four-integer tuple.
TORNADO_VERSION_INFO: Final = (6, 5, 10, 0)

_NAME: Final = "tornado"
_PRIVATE_MODULES: Final = frozenset({"_locale_data"})  # Tornado's private modules squall has
# The public squall modules that Tornado has (tornado.__all__ of the face lists these).
_TORNADO_MODULES: Final = (
    "auth",
    "autoreload",
    "concurrent",
    "escape",
    "gen",
    "http1connection",
    "httpclient",
    "httpserver",
    "httputil",
    "ioloop",
    "iostream",
    "locale",
    "locks",
    "log",
    "netutil",
    "options",
    "platform",
    "process",
    "queues",
    "routing",
    "simple_httpclient",
    "tcpclient",
    "tcpserver",
    "template",
    "testing",
    "util",
    "web",
    "websocket",
    "wsgi",
)
_FACE_DOC: Final = f"""Tornado's API, served by squall (squall's ``tornado`` alias is installed).

Every ``tornado.X`` module is ``squall.X``. ``version``/``version_info`` give the Tornado API
level squall implements ({TORNADO_VERSION}); ``squall.version`` is squall's own version.
"""


def _squall_name(fullname: str) -> str:
    return "squall" + fullname[len(_NAME) :]


def _missing(fullname: str, why: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(
        f"No module named {fullname!r}: under squall's tornado alias tornado.X is squall.X, "
        f"and {why} (see docs/tornado-differences.md)",
        name=fullname,
    )


def _find_target(fullname: str) -> importlib.machinery.ModuleSpec:
    """The spec of the squall module behind ``fullname`` (``tornado.X``); raises
    ModuleNotFoundError when squall has none."""
    target = _squall_name(fullname)
    first = fullname.split(".")[1]
    if first.startswith("_") and first not in _PRIVATE_MODULES:
        raise _missing(fullname, f"{target} is private to squall")
    try:
        spec = importlib.util.find_spec(target)
    except ModuleNotFoundError:  # a parent package is missing
        spec = None
    if spec is None:
        raise _missing(fullname, f"squall has no module {target}")
    return spec


class TornadoAliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and loads ``tornado`` and ``tornado.X`` as squall's modules (see the rules above)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for ``tornado`` and each ``tornado.X`` squall has; None for other names.

        Raises ModuleNotFoundError for a ``tornado.X`` squall does not have."""
        if fullname == _NAME:
            return importlib.machinery.ModuleSpec(
                _NAME, self, origin="squall's tornado alias", is_package=True
            )
        if not fullname.startswith(_NAME + "."):
            return None
        found = _find_target(fullname)
        is_package = found.submodule_search_locations is not None
        return importlib.machinery.ModuleSpec(
            fullname, self, origin=found.origin, is_package=is_package
        )

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        """The squall module itself for ``tornado.X``; a new module for ``tornado``."""
        if spec.name == _NAME:
            return None
        module = importlib.import_module(_squall_name(spec.name))
        # The import system sets ``__spec__`` to this spec next; exec_module puts it back.
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Fill in the ``tornado`` package; give a squall module its own ``__spec__`` back
        (it was executed when squall imported it)."""
        if module.__name__ == _NAME:
            _fill_face(module)
        elif module.__spec__ is not None and module.__spec__.loader is self:
            module.__spec__ = module.__spec__.loader_state

    def get_code(self, fullname: str) -> CodeType | None:
        """The code of the squall module behind ``fullname``: ``-m tornado.X`` runs squall.X."""
        spec = _find_target(fullname)
        loader = spec.loader
        get_code: Callable[[str], CodeType | None] | None = getattr(loader, "get_code", None)
        if get_code is None:
            raise ImportError(f"cannot run {fullname}: {spec.name} has no code object")
        return get_code(spec.name)

    def is_package(self, fullname: str) -> bool:
        """Whether ``fullname`` is a package (``tornado`` is)."""
        if fullname == _NAME:
            return True
        return _find_target(fullname).submodule_search_locations is not None


def _fill_face(module: ModuleType) -> None:
    module.__doc__ = _FACE_DOC
    module.version = TORNADO_VERSION  # type: ignore[attr-defined]  # a module's attributes
    module.version_info = TORNADO_VERSION_INFO  # type: ignore[attr-defined]
    module.__all__ = list(_TORNADO_MODULES)  # type: ignore[attr-defined]

    def __getattr__(name: str) -> Any:
        # Tornado 6.3+ imports submodules on attribute access: ``import tornado; tornado.web``.
        if name in _TORNADO_MODULES or name in _PRIVATE_MODULES:
            return importlib.import_module(f"{_NAME}.{name}")
        if not name.startswith("_") and importlib.util.find_spec(f"squall.{name}") is not None:
            return importlib.import_module(f"{_NAME}.{name}")
        raise AttributeError(
            f"module 'tornado' has no attribute {name!r} (squall's tornado alias: "
            f"squall has no squall.{name})"
        )

    module.__getattr__ = __getattr__  # type: ignore[method-assign]


def _ours(module: object) -> bool:
    """True for a module the alias put in ``sys.modules`` (the face or a squall module)."""
    name = getattr(module, "__name__", None)
    if name == _NAME:
        return isinstance(getattr(module, "__loader__", None), TornadoAliasFinder)
    return isinstance(name, str) and (name == "squall" or name.startswith("squall."))


def _real_tornado_loaded() -> str | None:
    """Where the Tornado already imported in this process came from, if one was."""
    for name, module in list(sys.modules.items()):
        if (name == _NAME or name.startswith(_NAME + ".")) and not _ours(module):
            return str(getattr(module, "__file__", None) or name)
    return None


_undo_loggers: Callable[[], None] | None = None
_hook_ran = False


def tornado_alias_installed() -> bool:
    """Return True while the alias is installed in this process."""
    return any(isinstance(finder, TornadoAliasFinder) for finder in sys.meta_path)


def install_tornado_alias(children: bool = True) -> None:
    """Make every ``tornado`` and ``tornado.X`` import give squall's module (see the package
    docstring). Calling it again does nothing.

    ``children=True`` also sets ``SQUALL_TORNADO_ALIAS=1`` in ``os.environ``, so Python child
    processes get the alias too (through the ``.pth`` hook). Raises RuntimeError if real
    Tornado was imported in this process already: install the alias first thing, or run the
    program with ``python -m squall.tornado``.
    """
    global _undo_loggers
    if tornado_alias_installed():
        if children:
            os.environ[ENV_VAR] = "1"
        return
    if (where := _real_tornado_loaded()) is not None:
        raise RuntimeError(
            f"Tornado is already imported in this process (from {where}): squall's tornado "
            "alias must be installed before anything imports tornado. Run the program with "
            "`python -m squall.tornado` (or `squall serve --tornado-alias`), or call "
            "squall.compat.install_tornado_alias() before any other import."
        )
    from squall.compat._loggers import alias_tornado_loggers

    sys.meta_path.insert(0, TornadoAliasFinder())
    _undo_loggers = alias_tornado_loggers()
    if children:
        os.environ[ENV_VAR] = "1"


def uninstall_tornado_alias() -> None:
    """Remove the alias: the finder, the ``tornado`` entries of ``sys.modules``, the logger
    names, and ``SQUALL_TORNADO_ALIAS`` from ``os.environ``. Meant for tests; modules that
    imported ``tornado`` names keep what they imported. Does nothing if it is not installed."""
    global _undo_loggers
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, TornadoAliasFinder)]
    for name, module in list(sys.modules.items()):
        if (name == _NAME or name.startswith(_NAME + ".")) and _ours(module):
            del sys.modules[name]
    if _undo_loggers is not None:
        _undo_loggers()
        _undo_loggers = None
    os.environ.pop(ENV_VAR, None)


def _site_dirs() -> list[str]:
    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    dirs += site.getsitepackages() if hasattr(site, "getsitepackages") else []
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return list(dict.fromkeys(dirs))


def hook_installed() -> str | None:
    """The path of the ``.pth`` startup hook in this interpreter's site-packages, or None
    (then Python child processes do not inherit the alias: reinstall squall)."""
    for directory in _site_dirs():
        path = os.path.join(directory, HOOK_NAME)
        if os.path.exists(path):
            return path
    return None


def _env_enabled(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    return value not in ("", "0")


def install_from_environment() -> None:
    """The ``.pth`` hook's entry: install the alias when ``SQUALL_TORNADO_ALIAS`` says so.

    Never raises: a failure is one line on stderr, and the program runs without the alias.
    Runs once per process (CPython 3.11 runs a virtual environment's .pth files twice)."""
    global _hook_ran
    if _hook_ran or not _env_enabled():
        return
    _hook_ran = True
    try:
        install_tornado_alias()
    except Exception as exc:
        print(
            f"squall: {ENV_VAR} is set but the tornado alias could not be installed: {exc}",
            file=sys.stderr,
        )
