"""Buffered, non-blocking streams over sockets and pipes (Tornado's ``tornado.iostream``).

    stream = IOStream(socket.socket())
    await stream.connect(("friendfeed.com", 80))
    await stream.write(b"GET / HTTP/1.0\\r\\nHost: friendfeed.com\\r\\n\\r\\n")
    header_data = await stream.read_until(b"\\r\\n\\r\\n")
    body = await stream.read_until_close()

``IOStream`` wraps a socket, ``SSLIOStream`` a TLS connection (or ``IOStream.start_tls``
upgrades one), ``PipeIOStream`` a pipe; subclass ``BaseIOStream`` for anything else with a file
descriptor. Every read returns a Future (one read at a time); ``write`` returns a Future that
resolves once the data is flushed; closing fails whatever is pending with
``StreamClosedError``. Buffers are bounded: ``max_buffer_size`` for reads,
``max_write_buffer_size`` for writes.

The streams run on the event loop's readiness callbacks (``add_reader``/``add_writer``), not
on asyncio transports: see ``squall/_streams/base.py`` and docs/architecture.md for why, and
docs/tornado-differences.md for the few deliberate differences from Tornado.
"""

from __future__ import annotations

from squall._streams.base import BaseIOStream
from squall._streams.buffer import StreamBuffer as _StreamBuffer
from squall._streams.errors import (
    StreamBufferFullError,
    StreamClosedError,
    UnsatisfiableReadError,
)
from squall._streams.pipes import PipeIOStream
from squall._streams.sockets import IOStream, SSLIOStream

__all__ = [
    "BaseIOStream",
    "IOStream",
    "PipeIOStream",
    "SSLIOStream",
    "StreamBufferFullError",
    "StreamClosedError",
    "UnsatisfiableReadError",
    "_StreamBuffer",
]
