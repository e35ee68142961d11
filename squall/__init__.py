"""squall: a Tornado-compatible, multi-process, asynchronous web framework on asyncio.

``import squall`` is cheap: submodules (``squall.web``, ``squall.ioloop``, ...) are imported
on first attribute access, so ``import squall; squall.web.Application`` works without
importing the whole package up front. It does one thing: ``asyncio.run(main())`` gets the
event loop ``SQUALL_LOOP`` selects (uvloop when installed; see ``squall._loop`` and
``squall._loop_hook``), without importing asyncio itself.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from squall._loop_hook import install as _install_run_policy

__all__ = ["version", "version_info"]

#: The version string, PEP 440 style.
version = "0.1.0"
__version__ = version
#: The version as a tuple of four integers; compare it rather than the string.
version_info = (0, 1, 0, 0)

_SUBMODULES = frozenset(
    {
        "auth",
        "autoreload",
        "concurrent",
        "escape",
        "gen",
        "httpclient",
        "http1connection",
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
        "tcpclient",
        "tcpserver",
        "queues",
        "routing",
        "simple_httpclient",
        "template",
        "testing",
        "util",
        "web",
        "wsgi",
        "websocket",
    }
)


_install_run_policy()


def __getattr__(name: str) -> ModuleType:
    """Import public submodules lazily: ``squall.web`` works after ``import squall``."""
    if name in _SUBMODULES:
        return importlib.import_module(f"squall.{name}")
    raise AttributeError(f"module 'squall' has no attribute {name!r}")
