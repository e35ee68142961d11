"""The stream exceptions (Tornado's ``tornado.iostream`` names).

A leaf: standard library only, so that any layer (the HTTP protocol included) may raise or catch
the same ``StreamClosedError`` class that ``squall.iostream`` exports.
"""

from __future__ import annotations

__all__ = ["StreamBufferFullError", "StreamClosedError", "UnsatisfiableReadError"]


class StreamClosedError(OSError):
    """The stream is closed: a read or write on it cannot complete.

    ``real_error`` is the exception that closed the stream (a ``ConnectionResetError``, an
    ``ssl.SSLError``, ...), or None when it was closed normally: by ``close()`` or by the peer
    closing its end. The same value is on the stream as ``stream.error``.
    """

    real_error: BaseException | None

    def __init__(self, real_error: BaseException | None = None) -> None:
        super().__init__("Stream is closed")
        self.real_error = real_error


class UnsatisfiableReadError(Exception):
    """A read cannot be satisfied within its limit (``read_until(..., max_bytes=N)``).

    The stream logs it at INFO, closes, and fails the pending read with ``StreamClosedError``
    whose ``real_error`` is this exception.
    """


class StreamBufferFullError(Exception):
    """A buffer limit was reached: ``max_buffer_size`` on reads, ``max_write_buffer_size`` on
    writes.

    A full read buffer closes the stream (the pending read fails with ``StreamClosedError``
    whose ``real_error`` is this exception); a full write buffer is raised by ``write()`` itself
    and leaves the stream open.
    """
