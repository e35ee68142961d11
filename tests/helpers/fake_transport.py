"""A fake transport that records what the protocol writes (for protocol unit tests)."""

from __future__ import annotations

import asyncio
from typing import Any


class FakeTransport(asyncio.Transport):
    """Records writes, close, and pause/resume of reading; never touches a socket."""

    def __init__(self, peername: Any = ("127.0.0.1", 40000)) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.reading_paused = False
        self.protocol: Any = None
        self._extra = {"peername": peername}
        self.high = 0
        self.low = 0

    @property
    def sent(self) -> bytes:
        """Everything written so far."""
        return b"".join(self.writes)

    def clear(self) -> None:
        self.writes.clear()

    def write(self, data: bytes) -> None:  # type: ignore[override]
        assert not self.closed, "write after close"
        assert data, "empty write"
        self.writes.append(bytes(data))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.protocol is not None:
                self.protocol.connection_lost(None)

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        assert not self.reading_paused, "pause_reading twice"
        self.reading_paused = True

    def resume_reading(self) -> None:
        assert self.reading_paused, "resume_reading while not paused"
        self.reading_paused = False

    def is_reading(self) -> bool:
        return not self.reading_paused

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high = high or 0
        self.low = low or 0

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol

    def abort(self) -> None:
        self.close()
