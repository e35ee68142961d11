"""The write buffer of a stream: a queue of chunks that copies small writes and keeps large ones.

Rules:
1. A write of more than ``_large_buf_threshold`` bytes is kept by reference (a memoryview of the
   caller's object, no copy); smaller writes are copied into a bytearray that collects small
   writes until it holds ``_large_buf_threshold`` bytes.
2. A view of the caller's object is released as soon as its last byte is consumed
   (``advance``) or the buffer is cleared: the caller may then resize its bytearray. Without the
   explicit release, PyPy would keep the view (and the bytearray's export) until a collection.
3. ``peek`` hands out a view that must be released (leave the ``with`` block) before the buffer
   is changed again.

A leaf: standard library only.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

__all__ = ["LARGE_BUFFER_THRESHOLD", "StreamBuffer"]

LARGE_BUFFER_THRESHOLD = 2048  # bytes: larger writes are kept by reference, not copied


class Peek:
    """A view of the first bytes of a buffer, released when the ``with`` block ends."""

    __slots__ = ("_view",)

    def __init__(self, view: memoryview) -> None:
        self._view = view

    def __enter__(self) -> memoryview:
        return self._view

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._view.release()


class StreamBuffer:
    """A FIFO of bytes made of chunks: ``append`` at the end, ``peek`` and ``advance`` at the
    front, ``len()`` the bytes held."""

    __slots__ = ("_buffers", "_first_pos", "_large_buf_threshold", "_size")

    def __init__(self) -> None:
        # Small writes are copied into bytearrays; large ones are memoryviews of the caller's data.
        self._buffers: deque[bytearray | memoryview] = deque()
        self._first_pos = 0  # bytes of _buffers[0] already consumed
        self._size = 0
        self._large_buf_threshold = LARGE_BUFFER_THRESHOLD

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size != 0

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Add ``data`` at the end: copied if small, kept by reference (a view) if large."""
        if isinstance(data, memoryview) and (data.itemsize != 1 or data.ndim != 1):
            data = data.cast("B")
        size = len(data)
        if size == 0:
            return
        buffers = self._buffers
        if size > self._large_buf_threshold:
            buffers.append(memoryview(data))
        else:
            last = buffers[-1] if buffers else None
            if type(last) is bytearray and len(last) < self._large_buf_threshold:
                last += data
            else:
                buffers.append(bytearray(data))
        self._size += size

    def first(self, size: int) -> memoryview:
        """A view of up to ``size`` bytes from the front (of the first chunk only; empty when the
        buffer is). The caller releases it before changing the buffer."""
        if not self._buffers:
            return memoryview(b"")
        chunk = self._buffers[0]
        pos = self._first_pos
        if type(chunk) is memoryview:
            return chunk[pos : pos + size]
        with memoryview(chunk) as whole:
            return whole[pos : pos + size]

    def peek(self, size: int) -> Peek:
        """``with buffer.peek(n) as view:`` up to ``n`` bytes from the front, never more than the
        first chunk, and at least one byte unless the buffer is empty."""
        return Peek(self.first(size))

    def advance(self, size: int) -> None:
        """Drop ``size`` bytes from the front (at most ``len(self)``), releasing consumed views."""
        if size > self._size:
            raise ValueError(f"cannot advance {size} bytes: the buffer holds {self._size}")
        self._size -= size
        buffers = self._buffers
        while size:
            chunk = buffers[0]
            left = len(chunk) - self._first_pos
            if size < left:
                self._first_pos += size
                return
            size -= left
            buffers.popleft()
            self._first_pos = 0
            if type(chunk) is memoryview:
                chunk.release()

    def clear(self) -> None:
        """Drop everything, releasing every view of callers' data."""
        for chunk in self._buffers:
            if type(chunk) is memoryview:
                chunk.release()
        self._buffers.clear()
        self._first_pos = 0
        self._size = 0
