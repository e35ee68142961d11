"""``ParseError``: a template that cannot be compiled, with the file and line at fault."""

from __future__ import annotations

__all__ = ["ParseError"]


class ParseError(Exception):
    """Raised for template syntax errors: a malformed tag, an unknown directive, a block left
    open, an ``{% end %}`` with nothing to close, or invalid Python inside a tag.

    ``filename`` and ``lineno`` say where the error is (``None`` and 0 when unknown);
    ``str(error)`` reads ``"<message> at <filename>:<lineno>"``."""

    def __init__(self, message: str, filename: str | None = None, lineno: int = 0) -> None:
        super().__init__(message, filename, lineno)
        self.message = message
        self.filename = filename
        self.lineno = lineno

    def __str__(self) -> str:
        return f"{self.message} at {self.filename}:{self.lineno}"


# Shown as squall.template.ParseError, where applications import it from.
ParseError.__module__ = "squall.template"
