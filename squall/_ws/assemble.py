"""Reassembly of fragmented WebSocket messages, with UTF-8 checked as the fragments arrive."""

from __future__ import annotations

import codecs
from typing import Any

from websockets.frames import CONT, TEXT, Frame

__all__ = ["MessageAssembler"]

_utf8_decoder = codecs.getincrementaldecoder("utf-8")


class MessageAssembler:
    """Turns data frames (TEXT, BINARY, CONT) into whole messages: str or bytes.

    The codec has already checked the frame sequence (no CONT without a start, no new message
    before the last one ended) and the size limit. Text is decoded incrementally, so invalid
    UTF-8 raises ``UnicodeDecodeError`` at the first bad fragment, not at the end."""

    __slots__ = ("_decoder", "_parts")

    def __init__(self) -> None:
        self._parts: list[Any] = []
        self._decoder: codecs.IncrementalDecoder | None = None

    def feed(self, frame: Frame) -> str | bytes | None:
        """The whole message if ``frame`` ends one, else None (more fragments to come)."""
        data = frame.data
        if frame.opcode is CONT:
            decoder = self._decoder
            self._parts.append(data if decoder is None else decoder.decode(data, frame.fin))
            if not frame.fin:
                return None
            parts, self._parts = self._parts, []
            self._decoder = None
            return b"".join(parts) if decoder is None else "".join(parts)
        if frame.opcode is TEXT:
            if frame.fin:
                return bytes(data).decode("utf-8")
            self._decoder = _utf8_decoder()
            self._parts = [self._decoder.decode(data)]
            return None
        if frame.fin:
            return data if isinstance(data, bytes) else bytes(data)
        self._parts = [data]
        return None

    def reset(self) -> None:
        """Drop a message in progress (the connection is closing or failed)."""
        self._parts = []
        self._decoder = None
