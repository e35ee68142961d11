"""Logging for ``squall serve``: text or JSON lines, ``--log-config``, the access line.

The master configures logging before it forks, so the workers write the same format.

- ``text`` (default): ``[I 261127 10:42:05 4242 module:line] message``, coloured on a terminal.
- ``json``: one object per line from python-json-logger, with ``time`` (RFC 3339, with the
  offset), ``level``, ``logger``, ``pid``, ``message`` (and ``exc_info`` for a traceback);
  access lines add ``method``, ``path``, ``status``, ``bytes``, ``duration_ms``, ``remote``,
  ``user_agent``, ``request_id``, ``referer`` and ``protocol``.
- ``--log-config FILE``: ``logging.config.dictConfig`` from JSON or YAML (``.json``,
  ``.yaml``, ``.yml``; YAML needs PyYAML), or ``fileConfig`` for INI files; it replaces the
  above (``--log-level`` still sets the root level when the file leaves it unset).

In the compiled build, records from compiled code get their real source location
(``squall._observe.logsource``).
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import sys
from datetime import datetime
from typing import Any

from squall.log import LogFormatter

__all__ = [
    "ACCESS_FIELDS",
    "DEFAULT_ACCESS_FORMAT",
    "JSONFormatter",
    "LogConfigError",
    "check_access_format",
    "configure",
]

TEXT_FORMAT = (
    "%(color)s[%(levelname)1.1s %(asctime)s %(process)d %(module)s:%(lineno)d]%(end_color)s "
    "%(message)s"
)
#: The fields an access-line template may use, with sample values (for checking templates).
ACCESS_FIELDS: dict[str, Any] = {
    "remote": "203.0.113.7",
    "method": "GET",
    "path": "/items/42?full=1",
    "status": 200,
    "bytes": 1234,
    "duration_ms": 1.25,
    "user_agent": "curl/8.0",
    "request_id": "3f9a2c0000000001",
    "referer": "-",
    "protocol": "HTTP/1.1",
}
DEFAULT_ACCESS_FORMAT = '{remote} "{method} {path} {protocol}" {status} {bytes} {duration_ms:.2f}ms'


class LogConfigError(ValueError):
    """``--log-config`` cannot be applied; the message says why."""


class JSONFormatter:
    """Factory of python-json-logger formatters with squall's field names (see module doc)."""

    @staticmethod
    def make() -> logging.Formatter:
        """A formatter writing one JSON object per record."""
        from pythonjsonlogger.json import JsonFormatter

        class _Formatter(JsonFormatter):
            def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
                stamp = datetime.fromtimestamp(record.created).astimezone()
                return stamp.isoformat(timespec="milliseconds")

        return _Formatter(
            "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "process": "pid",
            },
            json_ensure_ascii=False,
        )


def check_access_format(template: str) -> None:
    """Raise ValueError when ``template`` uses an unknown field or a bad format spec."""
    try:
        template.format(**ACCESS_FIELDS)
    except KeyError as exc:
        known = ", ".join(ACCESS_FIELDS)
        raise ValueError(f"unknown field {{{exc.args[0]}}} in {template!r}; known: {known}")
    except (ValueError, IndexError) as exc:
        raise ValueError(f"bad template {template!r}: {exc}") from None


def configure(
    *,
    level: str,
    log_format: str,
    log_config: str | None,
    access_log: bool,
    compiled: bool,
) -> None:
    """Configure the root logger for this process (and the workers it forks).

    Raises :class:`LogConfigError` when ``log_config`` cannot be read or applied."""
    root = logging.getLogger()
    if log_config:
        root.setLevel(level.upper())
        _apply_config_file(log_config)
    else:
        handler = logging.StreamHandler(sys.stderr)
        if log_format == "json":
            handler.setFormatter(JSONFormatter.make())
        else:
            color = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
            handler.setFormatter(LogFormatter(fmt=TEXT_FORMAT, color=color))
        for old in list(root.handlers):
            root.removeHandler(old)
        root.addHandler(handler)
        root.setLevel(level.upper())
    if compiled:
        from squall._observe.logsource import CompiledSourceFilter

        source_filter = CompiledSourceFilter()
        for each in _all_handlers():
            each.addFilter(source_filter)
    logging.getLogger("squall.access").disabled = not access_log


def _all_handlers() -> list[logging.Handler]:
    found: list[logging.Handler] = list(logging.getLogger().handlers)
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            found += [h for h in logger.handlers if h not in found]
    return found


def _apply_config_file(path: str) -> None:
    name = path.lower()
    try:
        if name.endswith(".json"):
            with open(path, encoding="utf-8") as file:
                config = json.load(file)
            _dict_config(config, path)
        elif name.endswith((".yaml", ".yml")):
            try:
                import yaml
            except ImportError:
                raise LogConfigError(
                    f"--log-config {path}: YAML needs PyYAML (pip install pyyaml), or use JSON"
                ) from None
            with open(path, encoding="utf-8") as file:
                config = yaml.safe_load(file)
            _dict_config(config, path)
        else:
            logging.config.fileConfig(path, disable_existing_loggers=False)
    except LogConfigError:
        raise
    except OSError as exc:
        raise LogConfigError(f"--log-config {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # json, yaml, configparser and logging.config errors
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LogConfigError(f"--log-config {path}: {detail}") from None


def _dict_config(config: object, path: str) -> None:
    if not isinstance(config, dict):
        raise LogConfigError(f"--log-config {path}: expected a mapping (dictConfig schema)")
    config.setdefault("version", 1)
    config.setdefault("disable_existing_loggers", False)
    logging.config.dictConfig(config)
