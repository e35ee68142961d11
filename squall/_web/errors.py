"""The exceptions a request handler raises to end a request: HTTPError, Finish and friends.

They carry no behaviour beyond their data; RequestHandler turns them into responses.
"""

from __future__ import annotations

import http.client
from typing import Any


class HTTPError(Exception):
    """End the request with an HTTP error status (Tornado's ``tornado.web.HTTPError``).

    ``HTTPError(404)`` answers 404 with the standard reason phrase; ``reason=`` overrides the
    phrase sent on the status line. ``log_message`` is written to the log (never to the client)
    after %-formatting it with ``args``.

    As in Tornado, a ``log_message`` given without ``args`` has its ``%`` signs doubled, so
    ``log_message % args`` is always safe for code that formats it later; use `get_message`
    for the finished text.
    """

    def __init__(
        self,
        status_code: int = 500,
        log_message: str | None = None,
        *args: Any,
        reason: str | None = None,
        **ignored: Any,  # Tornado accepts other keywords (message=...) and ignores them
    ) -> None:
        super().__init__()
        self.status_code = status_code
        self.reason = reason
        self.args = args
        self._raw_log_message = log_message
        self._message = _format_message(log_message, args)
        if log_message and not args:
            log_message = log_message.replace("%", "%%")
        self.log_message = log_message

    def get_message(self) -> str | None:
        """Return the log message formatted with its args, or None when there is none.

        If the %-formatting fails (wrong number or type of args), the raw message is returned
        rather than raising inside error handling."""
        return self._message

    def __str__(self) -> str:
        phrase = self.reason or http.client.responses.get(self.status_code, "Unknown")
        text = f"HTTP {self.status_code}: {phrase}"
        if self._message:
            text += f" ({self._message})"
        return text

    def __repr__(self) -> str:
        parts = [repr(self.status_code)]
        if self._raw_log_message is not None or self.args:
            parts.append(repr(self._raw_log_message))
        parts.extend(repr(arg) for arg in self.args)
        if self.reason is not None:
            parts.append(f"reason={self.reason!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class Finish(Exception):
    """End the request successfully, skipping the rest of the handler method.

    Unlike HTTPError this is not an error: nothing is logged and no error page is written.
    The handler calls ``self.finish(*args)`` with the exception's args, so ``raise Finish()``
    finishes with what was written so far and ``raise Finish(chunk)`` writes ``chunk`` last.
    Set the status and headers before raising it."""


class MissingArgumentError(HTTPError):
    """A required request argument was absent: a 400 whose message names the argument.

    Raised by ``get_argument(name)`` and friends when no default was given; ``arg_name``
    holds the name. The log message is "Missing argument <name>"."""

    def __init__(self, arg_name: str) -> None:
        super().__init__(400, f"Missing argument {arg_name}")
        self.arg_name = arg_name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.arg_name!r})"


def _format_message(log_message: str | None, args: tuple[Any, ...]) -> str | None:
    """Return ``log_message % args``, or the raw message when formatting fails."""
    if log_message is None or not args:
        return log_message
    try:
        return log_message % args
    except (TypeError, ValueError, KeyError):
        return log_message
