"""IOStream (a socket) and PipeIOStream (a pipe's file descriptor) over BaseIOStream."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import io
import os
import socket as _socket
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from squall._net import set_nodelay, ssl_wrap_socket
from squall._streams.base import BaseIOStream
from squall._streams.errors import StreamClosedError

if TYPE_CHECKING:
    from squall._streams.tls import SSLIOStream

__all__ = ["IOStream", "PipeIOStream"]

SSLOptions = Mapping[str, Any] | ssl.SSLContext


class IOStream(BaseIOStream):
    """A stream over a non-blocking socket (TCP or Unix).

    Pass a connected socket (from ``accept()``), or a new one and then call :meth:`connect`::

        stream = IOStream(socket.socket())
        await stream.connect(("example.com", 80))
        await stream.write(b"GET / HTTP/1.0\\r\\nHost: example.com\\r\\n\\r\\n")
        header_data = await stream.read_until(b"\\r\\n\\r\\n")

    The socket is made non-blocking; the stream owns it and closes it. ``stream.socket`` is
    the socket (None once the stream is closed).
    """

    socket: _socket.socket

    def __init__(self, socket: _socket.socket, *args: Any, **kwargs: Any) -> None:
        self.socket = socket
        self.socket.setblocking(False)
        super().__init__(*args, **kwargs)
        self._fd = socket.fileno()
        try:
            socket.getpeername()
        except OSError:
            self._connected = False  # watched once connect() has succeeded
        else:
            self._update_watch()

    def fileno(self) -> _socket.socket | None:
        """The socket (it has ``fileno()``), or None once closed."""
        return self.socket

    def close_fd(self) -> None:
        """Close the socket; ``stream.socket`` becomes None."""
        self.socket.close()
        self.socket = None  # type: ignore[assignment]  # Tornado's contract: None once closed

    def get_fd_error(self) -> Exception | None:
        """The socket's pending error (SO_ERROR) as an OSError."""
        code = self.socket.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        return OSError(code, os.strerror(code))

    def _take_fd_error(self) -> bool:
        code = self.socket.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if code:
            self.error = OSError(code, os.strerror(code))
        return code != 0

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        """``recv_into``: the bytes read, 0 at end of file, None when nothing is there."""
        try:
            return self.socket.recv_into(buf)
        except BlockingIOError:
            return None

    def write_to_fd(self, data: memoryview) -> int:
        """``send``: the bytes the kernel took."""
        return self.socket.send(data)

    def connect(self, address: Any, server_hostname: str | None = None) -> asyncio.Future[IOStream]:
        """Connect the stream's socket to ``address``; resolve with the stream once connected.

        ``address`` is what ``socket.connect`` takes; resolve host names first (a name here
        is looked up synchronously). Writes made before the connection completes are sent
        once it does, and their futures resolve after this one. On failure the stream closes
        and the future fails with StreamClosedError (the cause in ``stream.error``).
        ``server_hostname`` is for TLS streams (SSLIOStream) and ignored here.
        """
        if self._closed:
            raise StreamClosedError(real_error=self.error)
        if self._connecting or self._connect_future is not None:
            raise RuntimeError("connect() is already in progress on this stream")
        self._connecting = True
        future: asyncio.Future[IOStream] = self._loop.create_future()
        self._connect_future = future
        try:
            self.socket.connect(address)
        except BlockingIOError:
            pass  # EINPROGRESS: the socket becomes writable when the attempt ends
        except Exception as exc:
            # Address lookup errors (gaierror) and refusals Unix sockets report at once.
            self.close(exc_info=exc)
            return future
        self._update_watch()
        return future

    def _handle_connect(self) -> None:
        code = self.socket.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if code:
            self.close(exc_info=OSError(code, os.strerror(code)))  # ConnectionRefusedError...
            return
        self._connecting = False
        self._connected = True
        self._on_connected()

    def _on_connected(self) -> None:
        """The TCP connection is up: resolve ``connect()``, then send what was written."""
        future, self._connect_future = self._connect_future, None
        if future is not None and not future.done():
            future.set_result(self)
        self._flush()

    def set_nodelay(self, value: bool) -> None:
        """Set TCP_NODELAY: True sends small writes at once instead of coalescing them.

        Ignored for non-TCP sockets and on a closed stream."""
        if self.socket is not None:
            set_nodelay(self.socket, value)

    def start_tls(
        self,
        server_side: bool,
        ssl_options: SSLOptions | None = None,
        server_hostname: str | None = None,
    ) -> asyncio.Future[SSLIOStream]:
        """Upgrade this connection to TLS (STARTTLS); resolve with a new SSLIOStream.

        This stream must be idle (no read or write pending, nothing buffered) and is unusable
        afterwards: use the returned stream, which takes over the socket and the close
        callback. ``ssl_options`` is an ``ssl.SSLContext`` or a dict of ``ssl_wrap_socket``
        arguments; by default a client verifies the server against the system's CAs (give
        ``server_hostname``), and a server needs options with a certificate. The future fails
        with the TLS error if the handshake does; cancelling it closes the connection.
        """
        from squall._streams.tls import SSLIOStream, default_context

        if (
            self._read_future is not None
            or self._write_futures
            or self._connect_future is not None
            or self._closed
            or self._read_buffer
            or self._write_buffer
        ):
            raise ValueError("IOStream is not idle; cannot convert to SSL")
        if ssl_options is None:
            ssl_options = default_context(server_side)
        sock, self.socket = self.socket, None  # type: ignore[assignment]  # handed over
        self._unwatch()
        self._closed = True  # without closing the socket, which the new stream now owns
        callback, self._close_callback = self._close_callback, None
        wrapped = ssl_wrap_socket(
            sock,
            ssl_options,
            server_hostname=server_hostname,
            server_side=server_side,
            do_handshake_on_connect=False,
        )
        stream = SSLIOStream(
            wrapped,
            ssl_options=ssl_options,
            max_buffer_size=self.max_buffer_size,
            read_chunk_size=self.read_chunk_size,
            max_write_buffer_size=self.max_write_buffer_size,
        )
        stream.set_close_callback(callback)
        future = stream.wait_for_handshake()
        future.add_done_callback(lambda done: stream.close() if done.cancelled() else None)
        return future

    def _describe(self) -> str:
        try:
            peer = self.socket.getpeername() if self.socket is not None else None
        except OSError:
            peer = None
        return f"fd {self._fd} ({peer})" if peer else f"fd {self._fd}"


class PipeIOStream(BaseIOStream):
    """A stream over a pipe's file descriptor (``os.pipe()``, a subprocess's stdin/stdout).

    The descriptor is made non-blocking; the stream owns it and closes it. A write-only
    descriptor is never watched for reading. Not available on Windows.
    """

    def __init__(self, fd: int, *args: Any, **kwargs: Any) -> None:
        self.fd = fd
        self._fio = io.FileIO(fd, "r+")
        os.set_blocking(fd, False)
        super().__init__(*args, **kwargs)
        self._fd = fd
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
            self._idle_read = False
        self._update_watch()

    def fileno(self) -> int:
        """The file descriptor."""
        return self.fd

    def close_fd(self) -> None:
        """Close the file descriptor."""
        self._fio.close()

    def write_to_fd(self, data: memoryview) -> int:
        """``write``: the bytes the pipe took (0 when full)."""
        try:
            return self._fio.write(data) or 0
        finally:
            del data

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        """``readinto``: the bytes read, 0 at end of file, None when nothing is there."""
        try:
            return self._fio.readinto(buf)
        except OSError as exc:
            if exc.errno == errno.EBADF:
                # A closed write end can make the read end look readable while reads fail.
                self.close(exc_info=exc)
                return None
            raise
        finally:
            del buf
