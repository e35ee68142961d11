"""The protocol layer's exceptions.

They live in their own module, which is never compiled: an exception class must stay an
ordinary Python class (the compiled build turns the other ``_http1`` modules into C types).

``StreamClosedError`` is not the protocol's own: it is the one class of that name in squall
(``squall._streams.errors``, a leaf below every layer, exported by ``squall.iostream``), so
that Tornado code catching ``iostream.StreamClosedError`` around a handler's ``flush()`` or a
write on ``request.connection`` catches what an HTTP connection raises. Raised here it has no
``real_error`` (the peer closed, or the server closed the connection).
"""

from __future__ import annotations

from squall._streams.errors import StreamClosedError

__all__ = ["FramingMismatch", "StreamClosedError"]


class FramingMismatch(Exception):
    """The framing walker (``framing.py``) and the parser disagree about a read: our bug."""
