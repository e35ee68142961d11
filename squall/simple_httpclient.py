"""The default HTTP client implementation (Tornado's ``tornado.simple_httpclient``).

``SimpleAsyncHTTPClient`` is what ``AsyncHTTPClient()`` builds unless ``configure`` chose
another class; ``HTTPTimeoutError`` and ``HTTPStreamClosedError`` are its 599 errors. It runs
on squall's own streams (``squall.iostream``, ``squall.tcpclient``) and
``squall.http1connection``; see ``squall/_client`` and docs/architecture.md.
"""

from __future__ import annotations

from squall._client.exchange import _HTTPConnection
from squall._client.messages import HTTPStreamClosedError, HTTPTimeoutError
from squall._client.simple import SimpleAsyncHTTPClient

__all__ = [
    "HTTPStreamClosedError",
    "HTTPTimeoutError",
    "SimpleAsyncHTTPClient",
    "_HTTPConnection",
]
