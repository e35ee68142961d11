"""The HTTP/1.1 protocol layer: bytes in, ``squall.httputil`` delegate calls out.

Nothing here knows about handlers, routing or processes. See ``protocol.py`` for how it works.
"""

from __future__ import annotations

from squall._http1.params import HTTP1Params
from squall._http1.protocol import HTTP1Exchange, HTTP1Protocol
from squall._http1.state import ServerState

__all__ = ["HTTP1Exchange", "HTTP1Params", "HTTP1Protocol", "ServerState"]
