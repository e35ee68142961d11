"""Shared type aliases of the core (a leaf: imports nothing from squall).

An alias belongs here when several layers spell the same type; one module's own shapes stay
in that module.
"""

from __future__ import annotations

from collections.abc import Awaitable

__all__ = ["MaybeAwaitable"]

#: What a delegate or handler hook may return: nothing, or an awaitable that the caller waits
#: for before it goes on (flow control: the body is not read until it resolves).
MaybeAwaitable = Awaitable[None] | None
