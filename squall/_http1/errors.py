"""The protocol layer's exceptions.

They live in their own module, which is never compiled: an exception class must stay an
ordinary Python class (the compiled build turns the other ``_http1`` modules into C types).
"""

from __future__ import annotations

__all__ = ["FramingMismatch", "StreamClosedError"]


class StreamClosedError(OSError):
    """The connection is closed: the data could not be written."""

    def __init__(self, message: str = "Stream is closed") -> None:
        super().__init__(message)


class FramingMismatch(Exception):
    """The framing walker (``framing.py``) and the parser disagree about a read: our bug."""
