"""Shared type aliases of the private core (a leaf: imports nothing from squall)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

#: Header fields as httptools hands them over: raw bytes, in arrival order.
RawHeaders = list[tuple[bytes, bytes]]

#: A callback scheduled on the event loop.
Callback = Callable[..., Any]

#: What a delegate method may return: nothing, or an awaitable to wait for (flow control).
MaybeAwaitable = Awaitable[None] | None
