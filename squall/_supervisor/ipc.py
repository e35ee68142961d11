"""Master <-> worker messages over one socketpair per worker, shared by both halves.

How this works
--------------
Each message is one JSON object on one line, ``{"t": KIND, ...fields}``. On Linux the pair is
``SOCK_SEQPACKET`` (a send is all or nothing); elsewhere ``SOCK_STREAM``, where the newline is
the frame boundary and a partial send keeps its tail for the next flush. Both ends are
non-blocking: the master reads them from its selector, the worker from its event loop.

Worker -> master: ``ready``, ``boot_error`` (``text``: why the app could not start), ``hb``
(heartbeat: ``lag``, ``inflight``, ``served``, ``st`` (status classes), ``idle``, and the
request-duration histogram ``hist``/``hsum``: absolute values for the process, see
``metrics.WorkerStats``), ``recycle`` (``reason``), ``bye`` (``code`` and the final counters).
Master -> worker: ``drain`` (``timeout`` seconds, ``phase`` "announce" or "final") and
``quick``.

EOF on a worker's end means the master is gone: the worker drains and exits. Rule: nothing here
imports asyncio or anything HTTP; both halves import this module.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
from typing import Any

from squall.log import gen_log

__all__ = [
    "BOOT_ERROR",
    "BYE",
    "DRAIN",
    "HEARTBEAT",
    "HEARTBEAT_INTERVAL",
    "QUICK",
    "READY",
    "RECYCLE",
    "Channel",
    "channel_pair",
    "reopen_log_files",
]

READY = "ready"
BOOT_ERROR = "boot_error"
HEARTBEAT = "hb"
RECYCLE = "recycle"
BYE = "bye"
DRAIN = "drain"
QUICK = "quick"

HEARTBEAT_INTERVAL = 1.0  # seconds between a worker's heartbeats

Message = dict[str, Any]

_RECV_SIZE = 65536  # bytes; far above any message we send
_MAX_BACKLOG = 65536  # bytes of unsent messages kept while the peer does not read


class Channel:
    """One end of a master <-> worker socketpair, speaking newline-delimited JSON."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.eof = False
        self._inbuf = b""
        self._outbuf = b""

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed)."""
        return self.sock.fileno()

    def send(self, kind: str, **fields: Any) -> bool:
        """Queue one message and try to send it now; False if it is not (all) sent yet.

        Never blocks. Unsent bytes stay queued (up to 64 KiB; beyond that the oldest are
        dropped, which only heartbeats can cause) and go out with the next send or flush. A
        closed peer makes every send a no-op returning False."""
        if self.eof or self.sock.fileno() == -1:
            return False
        data = json.dumps({"t": kind, **fields}, separators=(",", ":")).encode() + b"\n"
        if len(self._outbuf) + len(data) > _MAX_BACKLOG:
            self._outbuf = b""
        self._outbuf += data
        return self.flush()

    def flush(self) -> bool:
        """Send queued bytes; True when nothing is left to send."""
        while self._outbuf:
            try:
                sent = self.sock.send(self._outbuf)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:  # the peer is gone: EPIPE, ECONNRESET, EBADF
                self._outbuf = b""
                return False
            self._outbuf = self._outbuf[sent:]
        return True

    def receive(self) -> list[Message]:
        """Read every message available now; sets ``eof`` when the peer has closed its end."""
        while not self.eof:
            try:
                chunk = self.sock.recv(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                break
            self._inbuf += chunk
        *lines, self._inbuf = self._inbuf.split(b"\n")
        messages: list[Message] = []
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if isinstance(message, dict) and isinstance(message.get("t"), str):
                messages.append(message)
            else:
                gen_log.debug("Ignoring a malformed supervisor message: %r", line[:200])
        return messages

    def close(self) -> None:
        """Close this end (idempotent)."""
        self.sock.close()


def channel_pair() -> tuple[Channel, Channel]:
    """Return ``(master_end, worker_end)`` of a new socketpair."""
    kind = socket.SOCK_SEQPACKET if sys.platform == "linux" else socket.SOCK_STREAM
    master_end, worker_end = socket.socketpair(socket.AF_UNIX, kind)
    return Channel(master_end), Channel(worker_end)


def reopen_log_files() -> int:
    """Reopen every ``logging.FileHandler``'s file (after logrotate moved it); return the count.

    Used for SIGUSR1 by the master and the workers. Streams that are not files (stderr) are
    left alone: whoever redirected them owns their rotation."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        item
        for item in logging.Logger.manager.loggerDict.values()
        if isinstance(item, logging.Logger)
    ]
    seen: set[int] = set()
    for logger in loggers:
        for handler in logger.handlers:
            if not isinstance(handler, logging.FileHandler) or id(handler) in seen:
                continue
            seen.add(id(handler))
            handler.acquire()
            try:
                if handler.stream is not None:
                    handler.stream.close()
                handler.stream = handler._open()
            finally:
                handler.release()
    return len(seen)
