"""Tornado's ``tornado.speedups``: the WebSocket masking function, in C.

``websocket_mask(mask, data)`` XORs ``data`` with the 4-byte ``mask`` repeated (RFC 6455
§5.3); masking and unmasking are the same operation. It is the C implementation of the
``websockets`` package, which squall's WebSocket stack uses for every frame; the pure Python
version is ``squall.util._websocket_mask_python``.
"""

from __future__ import annotations

from websockets.speedups import apply_mask

__all__ = ["websocket_mask"]


def websocket_mask(mask: bytes, data: bytes) -> bytes:
    """Return ``data`` masked with ``mask``; ValueError unless ``mask`` is 4 bytes."""
    return apply_mask(data, mask)
