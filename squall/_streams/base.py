"""BaseIOStream: Tornado's stream engine (buffered reads and writes over one file descriptor).

How this works
--------------
A stream owns one file descriptor and asks the asyncio loop to call it back when the descriptor
is readable or writable (``loop.add_reader``/``add_writer``; on uvloop a libuv poll handle). The
bytes move through the subclass hooks Tornado defines, ``read_from_fd(buf)`` and
``write_to_fd(view)``: a socket, a TLS socket, a pipe, or anything a user subclass wraps.

Why readiness callbacks and not asyncio transports: Tornado's stream API is built on file
descriptors, and so are the programs that use it: a stream wraps a socket the program made (or
an ``SSLSocket`` it wrapped itself), ``start_tls`` upgrades a live connection, pipes and user
subclasses implement ``read_from_fd``/``write_to_fd``, and tests replace those hooks on one
stream. Transports hide the descriptor and cannot take over a socket mid-conversation. Measured
on a line echo (bench/tcp_echo.py), readiness callbacks are as fast as a transport-based stream
on uvloop, and about twice as fast on the standard asyncio loop, whose transports are themselves
built on ``add_reader`` in Python.

Rules:
1. One read at a time: a second raises RuntimeError("Already reading"), as in Tornado. Writes
   queue: each ``write()`` returns a future resolved once its bytes (and all before them) have
   been handed to the kernel.
2. Futures are resolved synchronously, inside the call or callback that makes them resolvable:
   a read satisfied from the buffer returns a finished future.
3. The descriptor is watched for reading while a read is pending, or while the stream is idle
   with an empty read buffer (to notice the peer closing). Data left unread stops the reading:
   the kernel's buffer, then the peer's, fill up (back-pressure).
4. The read buffer never grows past ``max_buffer_size``: a read it cannot satisfy within that
   fails with StreamBufferFullError and closes the stream. ``max_bytes`` bounds one read the same
   way (UnsatisfiableReadError). ``max_write_buffer_size`` bounds unflushed writes: ``write()``
   raises StreamBufferFullError instead of queueing past it.
5. Every loop callback catches its exceptions: a reset is a normal close (the error is kept on
   ``stream.error``), anything else is logged once on ``squall.general`` and closes the stream.
   Errors of a read started inline (the caller's own call) are raised to the caller instead.
6. Closing fails every pending future with StreamClosedError (marked as retrieved, so an
   abandoned write's failure is never reported as unhandled), releases every view of the
   caller's buffers, and schedules the close callback once.
"""

from __future__ import annotations

import asyncio
import errno
import re
import ssl
import sys
import threading
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

from squall._loop import loop_name
from squall._streams.buffer import StreamBuffer
from squall._streams.errors import (
    StreamBufferFullError,
    StreamClosedError,
    UnsatisfiableReadError,
)
from squall._streams.pollguard import guard_for
from squall.ioloop import IOLoop
from squall.log import gen_log

__all__ = ["DEFAULT_MAX_BUFFER_SIZE", "DEFAULT_READ_CHUNK_SIZE", "BaseIOStream", "is_reset"]

DEFAULT_MAX_BUFFER_SIZE = 104_857_600  # bytes (100 MiB), Tornado's default
DEFAULT_READ_CHUNK_SIZE = 65_536  # bytes read per system call

# Errors that mean "the peer went away": a normal close, never logged.
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT})

# What the pending read waits for.
_IDLE, _BYTES, _UNTIL, _REGEX, _CLOSE, _INTO = range(6)
_EMPTY_OK = (_BYTES, _INTO, _REGEX)  # reads an empty buffer may satisfy (0 bytes, ...)

ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


def is_reset(exc: BaseException | None) -> bool:
    """True for the errors a vanished peer causes (ECONNRESET, ECONNABORTED, EPIPE, ETIMEDOUT,
    and TLS's "EOF occurred in violation of protocol")."""
    return isinstance(exc, OSError) and (
        exc.errno in _RESET_ERRNOS or isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError)
    )


# Reads land in one scratch buffer per thread, then only the bytes read are copied into the
# stream's buffer: no per-stream 64 KiB buffer, and no zero-filled allocation per read.
class _Scratch(threading.local):
    view = memoryview(bytearray(DEFAULT_READ_CHUNK_SIZE))

    def grow(self, size: int) -> memoryview:
        self.view = memoryview(bytearray(size))
        return self.view


_scratch = _Scratch()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a failed future's exception as seen, so asyncio does not report it at collection."""
    if not future.cancelled():
        future.exception()


class BaseIOStream:
    """A buffered, non-blocking stream over one file descriptor (Tornado's ``BaseIOStream``).

    Subclasses implement ``fileno()``, ``close_fd()``, ``write_to_fd(data)`` and
    ``read_from_fd(buf)``, and may implement ``get_fd_error()``. Everything else (the read
    methods, ``write``, ``close``, the close callback, the limits) is here.

    ``max_buffer_size`` (default 100 MiB) bounds the read buffer, ``read_chunk_size`` (default
    64 KiB, at most half of ``max_buffer_size``) is the most read per system call, and
    ``max_write_buffer_size`` (default: no limit) bounds the bytes written but not yet flushed.
    ``error`` is the exception that closed the stream, or None.
    """

    # Subclass switches. A socket that is not connected yet is not watched until it is; a pipe's
    # write end is never watched for reading; a TLS stream reads nothing before its handshake.
    _connected = True
    _idle_read = True
    _ssl_accepting = False
    _handshake_wants_write = True
    _may_buffer = False  # True when the descriptor's wrapper holds read bytes (TLS)

    def __init__(
        self,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
        max_write_buffer_size: int | None = None,
    ) -> None:
        self.io_loop = IOLoop.current()
        self._loop = self.io_loop.asyncio_loop
        # uvloop may stop reporting a descriptor after an error: see _streams/pollguard.py.
        self._guard = guard_for(self._loop) if loop_name(self._loop) == "uvloop" else None
        self._read_event_seen = False
        self._scratch_view = _scratch.view  # this thread's scratch buffer (see _Scratch)
        self.max_buffer_size = max_buffer_size or DEFAULT_MAX_BUFFER_SIZE
        # A chunk of at most half the limit, so one read can never overflow an empty buffer.
        self.read_chunk_size = min(
            read_chunk_size or DEFAULT_READ_CHUNK_SIZE, max(self.max_buffer_size // 2, 1)
        )
        self.max_write_buffer_size = max_write_buffer_size
        self.error: BaseException | None = None
        self._read_buffer = bytearray()
        self._read_future: asyncio.Future[Any] | None = None
        self._read_kind = _IDLE
        self._read_target = 0  # read_bytes: bytes wanted; read_into: the buffer's size
        self._read_partial = False
        self._read_delimiter = b""
        self._read_regex: re.Pattern[bytes] | None = None
        self._read_max_bytes: int | None = None
        self._scan_from = 0  # where the next delimiter search starts
        self._user_buffer: bytearray | memoryview | None = None
        self._user_filled = 0
        self._write_buffer = StreamBuffer()
        self._write_futures: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._total_write_index = 0  # bytes ever queued by write()
        self._total_write_done_index = 0  # bytes ever handed to the kernel
        self._close_callback: Callable[[], object] | None = None
        self._connect_future: asyncio.Future[Any] | None = None
        self._done_future: asyncio.Future[None] | None = None  # see write()
        self._connecting = False
        self._closed = False
        self._fd = -1
        self._watch_read = False
        self._watch_write = False

    # ---- the subclass hooks ------------------------------------------------------------------

    def fileno(self) -> int | _HasFileno | None:
        """The file descriptor (an int, or an object with ``fileno()``); None once closed."""
        raise NotImplementedError()

    def close_fd(self) -> None:
        """Close the file descriptor (called once, by ``close()``)."""
        raise NotImplementedError()

    def write_to_fd(self, data: memoryview) -> int:
        """Write some of ``data``; return the number of bytes written (0 if it would block)."""
        raise NotImplementedError()

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        """Read up to ``len(buf)`` bytes into ``buf``.

        Returns the number read, 0 at end of file, or None when nothing is available now.
        """
        raise NotImplementedError()

    def get_fd_error(self) -> Exception | None:
        """The error pending on the descriptor, if the subclass can tell (None by default)."""
        return None

    # ---- reads ---------------------------------------------------------------------------------

    def read_until_regex(
        self, regex: bytes | re.Pattern[bytes], max_bytes: int | None = None
    ) -> asyncio.Future[bytes]:
        """Read until ``regex`` matches; resolve with everything up to the end of the match.

        With ``max_bytes``, a match that would end past that many bytes (or no match within
        them) logs at INFO, closes the stream and fails the read with StreamClosedError.
        """
        future = self._start_read()
        self._read_kind = _REGEX
        self._read_regex = re.compile(regex)
        self._read_max_bytes = max_bytes
        return self._run_read(future)

    def read_until(self, delimiter: bytes, max_bytes: int | None = None) -> asyncio.Future[bytes]:
        """Read until ``delimiter``; resolve with the data including the delimiter.

        With ``max_bytes``, a delimiter not found within that many bytes (the delimiter
        included) logs at INFO, closes the stream and fails the read with StreamClosedError.
        """
        if self._read_future is None:
            future = self._read_future = self._loop.create_future()
        else:
            future = self._start_read()
        self._read_kind = _UNTIL
        self._read_delimiter = delimiter
        self._read_max_bytes = max_bytes
        self._scan_from = 0
        if not self._read_buffer and self._watch_read and not self._may_buffer:
            return future  # the common case: nothing buffered, the loop reports new bytes
        return self._run_read(future)

    def read_bytes(self, num_bytes: int, partial: bool = False) -> asyncio.Future[bytes]:
        """Read ``num_bytes`` bytes; with ``partial=True``, resolve as soon as any are there.

        A partial read returns between 1 and ``num_bytes`` bytes; ``read_bytes(0)`` returns b"".
        """
        if type(num_bytes) is not int:
            if isinstance(num_bytes, bool) or not isinstance(num_bytes, int):
                raise TypeError(f"num_bytes must be an int, got {type(num_bytes).__name__}")
        if num_bytes < 0:
            raise ValueError(f"num_bytes must be 0 or more, got {num_bytes}")
        if self._read_future is None:
            future = self._read_future = self._loop.create_future()
        else:
            future = self._start_read()
        self._read_kind = _BYTES
        self._read_target = num_bytes
        self._read_partial = partial
        if num_bytes and not self._read_buffer and self._watch_read and not self._may_buffer:
            return future  # the common case: nothing buffered, the loop reports new bytes
        return self._run_read(future)

    def read_into(self, buf: bytearray | memoryview, partial: bool = False) -> asyncio.Future[int]:
        """Fill the writable buffer ``buf``; resolve with the number of bytes written into it.

        Without ``partial`` the read resolves once ``buf`` is full; with it, as soon as at least
        one byte is in. Buffered data is copied in at once; the rest is read from the
        descriptor straight into ``buf``. No view of ``buf`` outlives the read, so the caller
        may resize it afterwards.
        """
        future = self._start_read()
        self._read_kind = _INTO
        with memoryview(buf) as whole:
            size = whole.nbytes
            available = min(len(self._read_buffer), size)
            if available:
                with memoryview(self._read_buffer) as source:
                    whole.cast("B")[:available] = source[:available]
                del self._read_buffer[:available]
        self._user_buffer = buf
        self._user_filled = available
        self._read_target = size
        self._read_partial = partial
        return self._run_read(future)

    def read_until_close(self) -> asyncio.Future[bytes]:
        """Read everything until the stream closes; resolve with all of it.

        The data is bounded by ``max_buffer_size``: more fails the read (StreamBufferFullError
        as its ``real_error``). On a stream already closed it resolves at once with whatever is
        buffered. A close by a reset counts as a normal end; any other error fails the read.
        """
        future = self._start_read()
        if self._closed:
            self._finish_bytes(len(self._read_buffer))
            return future
        self._read_kind = _CLOSE
        return self._run_read(future)

    def _start_read(self) -> asyncio.Future[Any]:
        pending = self._read_future
        if pending is not None:
            if not pending.done():
                if self._closed:
                    raise StreamClosedError(real_error=self.error)
                raise RuntimeError(
                    "Already reading: a stream allows one read at a time; await the pending "
                    "read before starting another"
                )
            self._reset_read()  # its owner cancelled it: the data stays for this read
        future = self._loop.create_future()
        self._read_future = future
        return future

    def _run_read(self, future: asyncio.Future[Any]) -> asyncio.Future[Any]:
        try:
            self._try_inline_read()
        except UnsatisfiableReadError as exc:
            # Consistent with the asynchronous case: the read fails, nothing is raised here.
            gen_log.info("Unsatisfiable read, closing connection: %s", exc)
            self.close(exc_info=exc)
        except BaseException:
            if self._read_future is future:
                self._reset_read()
            raise
        return future

    def _try_inline_read(self) -> None:
        """Complete the new read from the buffer, else from what the descriptor has right now,
        else start watching for more. Errors of the descriptor are raised to the caller."""
        if (self._read_buffer or self._read_kind in _EMPTY_OK) and self._satisfy():
            if not self._read_buffer and not self._watch_read and not self._closed:
                self._update_watch()  # idle and empty again: watch for the peer closing (rule 3)
            return
        if self._closed:
            self._reset_read()
            raise StreamClosedError(real_error=self.error)
        if self._connecting or self._ssl_accepting or not self._connected:
            self._update_watch()
            return
        if self._watch_read and not (self._may_buffer and self._fd_has_buffered()):
            # Already watched: the loop calls back when bytes arrive (a read system call here
            # would mostly find nothing). On uvloop, PollGuard covers a lost wake-up.
            return
        try:
            self._read_more()
        except UnsatisfiableReadError:
            raise
        except Exception as exc:
            self.close(exc_info=exc)
            raise
        self._update_watch()

    def _read_more(self, drain: bool = False) -> None:
        """Read a chunk and complete the pending read if it can.

        Reads more while the read is still pending and TLS holds decrypted bytes, or, with
        ``drain``, until the descriptor has nothing more: a readiness callback must not leave
        bytes behind while still waiting for them, because uvloop reports a socket error
        (a reset arriving behind the data) by calling the reader once and then never again.
        """
        buffered = self._read_buffer
        while True:
            if self._read_kind == _INTO and self._user_buffer is not None:
                if not self._read_chunk_into(self._user_buffer):
                    return
            else:
                room = self.max_buffer_size - len(buffered)
                if room <= 0:
                    gen_log.error(
                        "Reached maximum read buffer size (%d bytes)", self.max_buffer_size
                    )
                    raise StreamBufferFullError("Reached maximum read buffer size")
                size = self.read_chunk_size if self.read_chunk_size < room else room
                view = self._scratch_view
                if len(view) < size:
                    view = self._scratch_view = _scratch.grow(size)
                try:
                    count = self.read_from_fd(view[:size])
                except OSError as exc:
                    if is_reset(exc):
                        self.close(exc_info=exc)
                        return
                    raise
                if not count:
                    if count == 0:
                        self.close()
                    return
                buffered += view[:count]
            if self._read_future is None or self._satisfy() or self._closed:
                return
            if not drain and not (self._may_buffer and self._fd_has_buffered()):
                return

    def _take_fd_error(self) -> bool:
        """Record a pending error of the descriptor on ``error``; True if there was one."""
        return False

    def _fd_has_buffered(self) -> bool:
        """True when bytes already taken off the descriptor wait inside it (TLS records)."""
        return False

    def _read_chunk_into(self, target: bytearray | memoryview) -> int:
        with memoryview(target) as whole:
            with whole.cast("B")[self._user_filled : self._read_target] as view:
                try:
                    count = self.read_from_fd(view)
                except OSError as exc:
                    if is_reset(exc):
                        self.close(exc_info=exc)
                        return 0
                    raise
        if count is None:
            return 0
        if count == 0:
            self.close()
            return 0
        self._user_filled += count
        return count

    def _satisfy(self) -> bool:
        """Complete the pending read from the buffer if it can be; True when none is pending."""
        future = self._read_future
        if future is None:
            return True
        if future.done():  # cancelled by its owner: drop the request, keep the data
            self._reset_read()
            return True
        kind = self._read_kind
        buffered = self._read_buffer
        if kind == _UNTIL:
            delimiter = self._read_delimiter
            found = buffered.find(delimiter, self._scan_from)
            limit = self._read_max_bytes
            if found >= 0:
                end = found + len(delimiter)
                if limit is not None and end > limit:
                    raise UnsatisfiableReadError(
                        f"delimiter {delimiter!r} not found within {limit} bytes"
                    )
                self._finish_bytes(end)
                return True
            size = len(buffered)
            if limit is not None and size > limit:
                raise UnsatisfiableReadError(
                    f"delimiter {delimiter!r} not found within {limit} bytes"
                )
            self._scan_from = max(0, size - len(delimiter) + 1)
            return False
        if kind == _BYTES:
            size = len(buffered)
            if size >= self._read_target:
                self._finish_bytes(self._read_target)
                return True
            if self._read_partial and size:
                self._finish_bytes(size)
                return True
            return False
        if kind == _INTO:
            filled = self._user_filled
            if filled >= self._read_target or (self._read_partial and filled):
                self._reset_read()
                future.set_result(filled)
                return True
            return False
        if kind == _REGEX:
            assert self._read_regex is not None  # set with the kind
            match = self._read_regex.search(buffered)
            limit = self._read_max_bytes
            if match is not None:
                if limit is not None and match.end() > limit:
                    raise UnsatisfiableReadError(
                        f"regex {self._read_regex.pattern!r} not found within {limit} bytes"
                    )
                self._finish_bytes(match.end())
                return True
            if limit is not None and len(buffered) > limit:
                raise UnsatisfiableReadError(
                    f"regex {self._read_regex.pattern!r} not found within {limit} bytes"
                )
            return False
        return False  # _CLOSE: only close() completes it

    def _finish_bytes(self, end: int) -> None:
        buffered = self._read_buffer
        if end == len(buffered):
            data = bytes(buffered)
            buffered.clear()
        else:
            data = bytes(buffered[:end])
            del buffered[:end]
        future = self._read_future
        self._read_future = None
        self._read_kind = _IDLE
        if future is not None and not future.done():
            future.set_result(data)

    def _reset_read(self) -> None:
        self._read_future = None
        self._read_kind = _IDLE
        self._read_regex = None
        self._user_buffer = None

    # ---- writes --------------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> asyncio.Future[None]:
        """Queue ``data`` for writing; the future resolves once it has all been flushed.

        Writes may be issued without waiting for earlier ones. A bytearray or memoryview larger
        than 2 KiB is kept by reference until written: do not change it before the future
        resolves. Raises StreamClosedError on a closed stream, TypeError for ``str``, and
        StreamBufferFullError (leaving the stream open) when the unflushed bytes would exceed
        ``max_write_buffer_size``.
        """
        if self._closed:
            raise StreamClosedError(real_error=self.error)
        if isinstance(data, memoryview):
            if data.itemsize != 1 or data.ndim != 1:
                data = data.cast("B")
        elif not isinstance(data, bytes | bytearray):
            raise TypeError(
                f"write() takes bytes, bytearray or memoryview, not {type(data).__name__}"
                + ("; encode the string first" if isinstance(data, str) else "")
            )
        size = len(data)
        if size:
            limit = self.max_write_buffer_size
            if limit is not None and len(self._write_buffer) + size > limit:
                raise StreamBufferFullError("Reached maximum write buffer size")
            self._total_write_index += size
            if self._connecting or self._ssl_accepting:
                self._write_buffer.append(data)
            elif not self._write_buffer:
                view = memoryview(data)
                try:
                    sent = self.write_to_fd(view) or 0
                except BlockingIOError:
                    sent = 0
                except OSError as exc:
                    self._write_failed(exc)
                    sent = 0
                finally:
                    if type(data) is not bytes:
                        view.release()  # the caller may resize its bytearray once written
                self._total_write_done_index += sent
                if sent < size and not self._closed:
                    with memoryview(data) as view:
                        self._write_buffer.append(view[sent:])
                    self._update_watch()
            else:
                self._write_buffer.append(data)
                self._flush()
                self._update_watch()
        if self._total_write_done_index >= self._total_write_index and not self._closed:
            # Everything is flushed: one finished future per stream serves every such write.
            done = self._done_future
            if done is None:
                done = self._done_future = self._loop.create_future()
                done.set_result(None)
            return done
        future: asyncio.Future[None] = self._loop.create_future()
        if self._closed:
            future.set_exception(StreamClosedError(real_error=self.error))
            future.exception()  # a fire-and-forget write must not be reported as unhandled
        else:
            self._write_futures.append((self._total_write_index, future))
        return future

    def _flush(self) -> None:
        """Write queued bytes until the descriptor would block; resolve the flushed writes."""
        queued = self._write_buffer
        while queued:
            view = queued.first(len(queued))
            try:
                sent = self.write_to_fd(view) or 0
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                view.release()
                self._write_failed(exc)
                return
            view.release()
            if not sent:
                break
            queued.advance(sent)
            self._total_write_done_index += sent
        self._resolve_writes()

    def _resolve_writes(self) -> None:
        futures = self._write_futures
        done = self._total_write_done_index
        while futures and futures[0][0] <= done:
            future = futures.popleft()[1]
            if not future.done():
                future.set_result(None)

    def _write_failed(self, exc: OSError) -> None:
        if not is_reset(exc):
            gen_log.warning("Write error on %s: %s", self._describe(), exc)
        self.close(exc_info=exc)

    # ---- readiness callbacks -------------------------------------------------------------------

    def _update_watch(self) -> None:
        """Watch the descriptor for what the stream needs now (rule 3)."""
        if self._closed:
            return
        if self._connecting:
            want_read, want_write = False, True
        elif not self._connected:  # nothing to watch yet; a read here fails as it would later
            want_read, want_write = self._read_future is not None, False
        elif self._ssl_accepting:
            want_write = self._handshake_wants_write
            want_read = not want_write
        else:
            want_write = bool(self._write_buffer)
            want_read = self._read_future is not None or (self._idle_read and not self._read_buffer)
        if want_read is not self._watch_read:
            fd = self._fd if self._fd >= 0 else self._resolve_fd()
            if want_read:
                self._loop.add_reader(fd, self._on_readable)
                if self._guard is not None:
                    self._guard.add(self)
            else:
                self._loop.remove_reader(fd)
                if self._guard is not None:
                    self._guard.discard(self)
            self._watch_read = want_read
        if want_write is not self._watch_write:
            fd = self._fd if self._fd >= 0 else self._resolve_fd()
            if want_write:
                self._loop.add_writer(fd, self._on_writable)
            else:
                self._loop.remove_writer(fd)
            self._watch_write = want_write

    def _resolve_fd(self) -> int:
        handle = self.fileno()
        if handle is None:
            raise StreamClosedError(real_error=self.error)
        self._fd = handle if isinstance(handle, int) else handle.fileno()
        return self._fd

    def _unwatch(self) -> None:
        if self._guard is not None:
            self._guard.discard(self)
        if self._fd < 0:
            return
        for watching, remove in (
            (self._watch_read, self._loop.remove_reader),
            (self._watch_write, self._loop.remove_writer),
        ):
            if watching:
                try:
                    remove(self._fd)
                except (OSError, RuntimeError):  # the fd was closed under us, or the loop
                    pass
        self._watch_read = self._watch_write = False

    def _recheck_watch(self) -> None:
        """PollGuard's check: re-arm the read watch if the descriptor has a pending error."""
        if self._closed or not self._watch_read:
            return
        try:
            failed = self._take_fd_error()
        except OSError as exc:
            self.close(exc_info=exc)
            return
        if failed:
            self._loop.remove_reader(self._fd)
            self._watch_read = False
            self._update_watch()  # a fresh watch: the loop reports the condition again

    def _on_readable(self) -> None:
        self._read_event_seen = True
        if self._ssl_accepting:
            self._handshake_step()
            return
        try:
            self._read_more(drain=True)
        except UnsatisfiableReadError as exc:
            gen_log.info("Unsatisfiable read, closing connection: %s", exc)
            self.close(exc_info=exc)
            return
        except Exception as exc:
            gen_log.warning("error on read: %s", exc)
            self.close(exc_info=exc)
            return
        if self._read_future is None and self._read_buffer:
            self._update_watch()  # idle with data waiting: stop reading (back-pressure)

    def _handle_read(self) -> None:
        try:
            self._read_more(drain=True)
        except UnsatisfiableReadError as exc:
            gen_log.info("Unsatisfiable read, closing connection: %s", exc)
            self.close(exc_info=exc)
            return
        except Exception as exc:
            gen_log.warning("error on read: %s", exc)
            self.close(exc_info=exc)
            return
        if self._read_future is None and self._read_buffer:
            self._update_watch()  # idle with data waiting: stop reading (back-pressure)

    def _on_writable(self) -> None:
        try:
            if self._connecting:
                self._handle_connect()
            elif self._ssl_accepting:
                self._handshake_step()
                return
            else:
                self._flush()
        except Exception as exc:
            gen_log.warning("error on write: %s", exc)
            self.close(exc_info=exc)
            return
        self._update_watch()

    def _handle_connect(self) -> None:
        """The descriptor became writable while connecting (IOStream.connect)."""
        raise NotImplementedError()

    def _handshake_step(self) -> None:
        """Advance the TLS handshake (SSLIOStream)."""
        raise NotImplementedError()

    def _describe(self) -> str:
        return f"fd {self._fd}"

    # ---- state and closing ---------------------------------------------------------------------

    def reading(self) -> bool:
        """True while a read is pending."""
        return self._read_future is not None

    def writing(self) -> bool:
        """True while written data waits to be flushed."""
        return bool(self._write_buffer)

    def closed(self) -> bool:
        """True once the stream is closed (by ``close()``, the peer, or an error)."""
        return self._closed

    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (True) or on; only TCP streams act on it."""

    def set_close_callback(self, callback: Callable[[], object] | None) -> None:
        """Call ``callback()`` (on the next loop iteration) once the stream closes.

        Pending futures fail with StreamClosedError anyway; the callback is for a stream with
        no read or write in progress. Set on a stream that is already closed, it is not called.
        """
        self._close_callback = callback

    def close(
        self,
        exc_info: bool | BaseException | ExcInfo | None = False,
    ) -> None:
        """Close the stream; safe to call more than once.

        ``exc_info`` records why on ``stream.error``: an exception, a ``sys.exc_info()``
        tuple, or True for the exception being handled. A pending ``read_until_close``
        resolves with the buffered data unless that error is something other than a reset;
        a read the buffer can satisfy resolves; every other pending future fails with
        StreamClosedError. Buffered data stays readable after the close.
        """
        if not self._closed:
            if exc_info:
                if isinstance(exc_info, tuple):
                    self.error = exc_info[1]
                elif isinstance(exc_info, BaseException):
                    self.error = exc_info
                elif (current := sys.exc_info()[1]) is not None:
                    self.error = current
            self._closed = True
            future = self._read_future
            if future is not None and not future.done():
                if self._read_kind == _CLOSE:
                    if self.error is None or is_reset(self.error):
                        self._finish_bytes(len(self._read_buffer))
                else:
                    try:
                        self._satisfy()
                    except UnsatisfiableReadError:
                        pass
            self._unwatch()
            try:
                self.close_fd()
            except OSError:  # already closed under us (os.close on the fd): nothing to release
                pass
        self._signal_closed()

    def _signal_closed(self) -> None:
        futures: list[asyncio.Future[Any]] = []
        if self._read_future is not None:
            futures.append(self._read_future)
            self._reset_read()
        futures.extend(future for _, future in self._write_futures)
        self._write_futures.clear()
        if self._connect_future is not None:
            futures.append(self._connect_future)
            self._connect_future = None
        for future in futures:
            if not future.done():
                future.set_exception(StreamClosedError(real_error=self.error))
            _retrieve(future)
        self._signal_handshake_closed()
        if self._close_callback is not None:
            callback, self._close_callback = self._close_callback, None
            self.io_loop.add_callback(callback)
        # Release the caller's buffers now, even if something keeps the stream alive.
        self._write_buffer.clear()
        self._user_buffer = None

    def _signal_handshake_closed(self) -> None:
        """Fail a pending TLS handshake future (SSLIOStream)."""
