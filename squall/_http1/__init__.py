"""The HTTP/1.1 protocol layer: bytes in, ``squall.httputil`` delegate calls out.

Nothing here knows about handlers, routing or processes. See ``protocol.py`` for how it works.

A wheel build compiles these modules with mypyc, with the web hot path (``squall._compiled``
lists them); :data:`COMPILED` says whether the compiled modules are the ones running. In a
source checkout, compiled modules older than their sources would silently run stale code, so
importing warns about them.
"""

from __future__ import annotations

import warnings

from squall._compiled import stale_sources
from squall._http1 import protocol as _protocol
from squall._http1.exchange import HTTP1Exchange
from squall._http1.params import HTTP1Params
from squall._http1.protocol import HTTP1Protocol
from squall._http1.state import ServerState

__all__ = ["COMPILED", "HTTP1Exchange", "HTTP1Params", "HTTP1Protocol", "ServerState"]

#: True when the mypyc-compiled build is in use, False for pure Python.
COMPILED: bool = not str(_protocol.__file__).endswith(".py")


if COMPILED:
    _stale = stale_sources()
    if _stale:
        warnings.warn(
            f"squall: {', '.join(_stale)} changed after it was compiled, so the old compiled "
            "code is running; rebuild with scripts/build-ext (or remove the compiled modules "
            "with scripts/build-ext --clean)",
            RuntimeWarning,
            stacklevel=2,
        )
