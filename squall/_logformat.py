"""How squall's log lines look and where they go: ``LogFormatter`` and ``enable_pretty_logging``.

A leaf (standard library only) below both ``squall.log``, which re-exports these names as
Tornado's, and ``squall.options``, whose logging options apply them after each parse. Keeping
them here is what lets ``log`` offer ``define_logging_options`` (an option parser's business)
while ``options`` configures logging, without either module importing the other back.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from typing import Any, Literal, TextIO

__all__ = [
    "DEFAULT_COLORS",
    "DEFAULT_DATE_FORMAT",
    "DEFAULT_FORMAT",
    "LogFormatter",
    "enable_pretty_logging",
]

DEFAULT_FORMAT = (
    "%(color)s[%(levelname)1.1s %(asctime)s %(module)s:%(lineno)d]%(end_color)s %(message)s"
)
DEFAULT_DATE_FORMAT = "%y%m%d %H:%M:%S"
# ANSI colour numbers by level: DEBUG blue, INFO green, WARNING yellow, ERROR red, CRITICAL magenta.
DEFAULT_COLORS = {10: 4, 20: 2, 30: 3, 40: 1, 50: 5}

_ANSI_RESET = "\033[0m"
_MARK = "_squall_pretty_logging"  # set on the handlers enable_pretty_logging adds


class LogFormatter(logging.Formatter):
    """Format records as ``[L yymmdd HH:MM:SS module:line] message``, optionally in colour.

    ``color=True`` wraps the bracketed prefix in the ANSI colour of the record's level (``colors``
    maps a level number to a colour number 0-7); whether the stream can show colour is the
    caller's decision (``enable_pretty_logging`` checks for a TTY). Bytes in the message or its
    arguments show as their repr, as ``logging`` itself shows them. Every line
    after the first (multi-line messages, tracebacks, stack info) is indented by four spaces.
    """

    def __init__(
        self,
        fmt: str = DEFAULT_FORMAT,
        datefmt: str = DEFAULT_DATE_FORMAT,
        style: Literal["%", "{", "$"] = "%",
        color: bool = True,
        colors: dict[int, int] | None = None,
    ) -> None:
        super().__init__(fmt, datefmt, style=style)
        palette = DEFAULT_COLORS if colors is None else colors
        self._colors = {level: f"\033[3{code}m" for level, code in palette.items()} if color else {}
        self._normal = _ANSI_RESET if color else ""

    def format(self, record: logging.LogRecord) -> str:
        """Return the formatted record; never raises on a malformed message."""
        record.message = _safe_message(record)
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        color = self._colors.get(record.levelno, "")
        record.__dict__.update(color=color, end_color=self._normal if color else "")
        text = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        stack = self.formatStack(record.stack_info) if record.stack_info else ""
        if extra := [part for part in (record.exc_text, stack) if part]:
            text = "\n".join([text.rstrip(), *extra])
        return text.replace("\n", "\n    ")


def _safe_message(record: logging.LogRecord) -> str:
    """``record.getMessage()``, with formatting errors reported, not raised.

    Bytes show as their repr (``b'caf\\xc3\\xa9'``), as in ``logging`` and Tornado: a log line
    never guesses an encoding.
    """
    msg = repr(record.msg) if isinstance(record.msg, bytes) else str(record.msg)
    args = record.args
    try:
        return msg % args if args else msg
    except (TypeError, ValueError, KeyError) as exc:
        return f"Bad log message {record.msg!r} with arguments {record.args!r}: {exc!r}"


def _supports_color(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal that understands ANSI colour codes."""
    if sys.platform == "win32" or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _level(name: object) -> int:
    if isinstance(name, int):
        return name
    level = getattr(logging, str(name).upper(), None)
    if not isinstance(level, int):
        raise ValueError(
            f"Unknown logging level {name!r}; use debug, info, warning, error, critical or none"
        )
    return level


def _file_handler(options: Any, path: str) -> logging.Handler:
    mode = getattr(options, "log_rotate_mode", "size")
    backups = int(getattr(options, "log_file_num_backups", 10))
    handler: logging.Handler
    if mode == "size":
        max_bytes = int(getattr(options, "log_file_max_size", 100 * 1000 * 1000))
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
    elif mode == "time":
        handler = logging.handlers.TimedRotatingFileHandler(
            path,
            when=getattr(options, "log_rotate_when", "midnight"),
            interval=int(getattr(options, "log_rotate_interval", 1)),
            backupCount=backups,
            encoding="utf-8",
        )
    else:
        raise ValueError(f'log_rotate_mode must be "size" or "time", not {mode!r}')
    handler.setFormatter(LogFormatter(color=False))
    return handler


def enable_pretty_logging(options: Any = None, logger: logging.Logger | None = None) -> None:
    """Configure ``logger`` (default: the root logger) with ``LogFormatter`` handlers.

    With ``options=None``: only when the logger has no handlers besides those squall added, set
    its level to INFO and give it one stderr handler (coloured on a TTY). With ``options`` (an
    object with Tornado's logging options as attributes: ``logging``, ``log_file_prefix``,
    ``log_file_max_size``, ``log_file_num_backups``, ``log_rotate_mode``, ``log_rotate_when``,
    ``log_rotate_interval``, ``log_to_stderr``): ``logging="none"`` leaves logging alone;
    otherwise set the level, add a rotating file handler when ``log_file_prefix`` is set (by size
    or by time, per ``log_rotate_mode``), and a stderr handler when ``log_to_stderr`` is true, or
    is None and the logger has no other handler.

    Calling it again replaces the handlers it added before instead of adding duplicates.
    Raises ValueError for an unknown level or rotate mode, leaving the logger untouched.
    """
    target = logger if logger is not None else logging.getLogger()
    ours = [handler for handler in target.handlers if getattr(handler, _MARK, False)]
    if options is None:
        if len(ours) < len(target.handlers):
            return  # someone else configured this logger: leave it alone
        level: object = "info"
        prefix = to_stderr = None
    else:
        level = getattr(options, "logging", "info")
        if level is None or str(level).lower() == "none":
            return
        prefix = getattr(options, "log_file_prefix", None)
        to_stderr = getattr(options, "log_to_stderr", None)
    new_level = _level(level)
    added = [_file_handler(options, prefix)] if prefix else []
    for handler in ours:
        target.removeHandler(handler)
        handler.close()
    target.setLevel(new_level)
    if to_stderr or (to_stderr is None and not added and not target.handlers):
        stderr_handler = logging.StreamHandler(sys.stderr)
        stderr_handler.setFormatter(LogFormatter(color=_supports_color(sys.stderr)))
        added.append(stderr_handler)
    for handler in added:
        setattr(handler, _MARK, True)
        target.addHandler(handler)
