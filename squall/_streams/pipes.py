"""PipeIOStream: a stream over a pipe's file descriptor (BaseIOStream's file-descriptor side)."""

from __future__ import annotations

import errno
import fcntl
import io
import os
from typing import Any

from squall._streams.base import BaseIOStream

__all__ = ["PipeIOStream"]


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
