"""Tests for squall.log: the three loggers, LogFormatter and enable_pretty_logging."""

from __future__ import annotations

import io
import itertools
import logging
import logging.handlers
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from squall import log
from squall.log import LogFormatter, enable_pretty_logging

_names = itertools.count()


def make_record(
    msg: object, *args: object, level: int = logging.INFO, exc_info: Any = None
) -> logging.LogRecord:
    return logging.LogRecord("squall.test", level, __file__, 42, msg, args or None, exc_info)


def options(**values: Any) -> SimpleNamespace:
    defaults: dict[str, Any] = {
        "logging": "info",
        "log_to_stderr": None,
        "log_file_prefix": None,
        "log_file_max_size": 100 * 1000 * 1000,
        "log_file_num_backups": 10,
        "log_rotate_when": "midnight",
        "log_rotate_interval": 1,
        "log_rotate_mode": "size",
    }
    return SimpleNamespace(**{**defaults, **values})


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A fresh logger with no handlers; the ones added are closed afterwards.

    It keeps propagating: pytest attaches its capture handlers to non-propagating loggers.
    """
    target = logging.getLogger(f"squall.test.pretty{next(_names)}")
    yield target
    for handler in list(target.handlers):
        target.removeHandler(handler)
        handler.close()


def test_loggers_have_squall_names() -> None:
    assert log.access_log.name == "squall.access"
    assert log.app_log.name == "squall.application"
    assert log.gen_log.name == "squall.general"


# ---- LogFormatter -----------------------------------------------------------------------------


def test_default_format_is_level_initial_date_module_and_line() -> None:
    record = make_record("hello %s", "world")
    text = LogFormatter(color=False).format(record)
    assert re.fullmatch(r"\[I \d{6} \d{2}:\d{2}:\d{2} test_log:42\] hello world", text)
    stamp = time.strftime("%y%m%d %H:%M:%S", time.localtime(record.created))
    assert text == f"[I {stamp} test_log:42] hello world"


@pytest.mark.parametrize(
    ("level", "initial"),
    [
        (logging.DEBUG, "D"),
        (logging.WARNING, "W"),
        (logging.ERROR, "E"),
        (logging.CRITICAL, "C"),
    ],
)
def test_each_level_shows_its_initial(level: int, initial: str) -> None:
    text = LogFormatter(color=False).format(make_record("x", level=level))
    assert text.startswith(f"[{initial} ")


def test_color_wraps_the_prefix_in_the_level_colour() -> None:
    text = LogFormatter(color=True).format(make_record("msg", level=logging.ERROR))
    assert re.fullmatch(r"\033\[31m\[E [^\]]+\]\033\[0m msg", text)
    custom = LogFormatter(color=True, colors={logging.INFO: 6}).format(make_record("m"))
    assert custom.startswith("\033[36m[I ")
    assert "\033" not in LogFormatter(color=False).format(make_record("msg"))


def test_bytes_messages_are_shown_as_repr() -> None:
    formatter = LogFormatter(color=False)
    assert formatter.format(make_record(b"caf\xc3\xa9")).endswith("] b'caf\\xc3\\xa9'")
    assert formatter.format(make_record(b"\xff\xfe raw")).endswith("] b'\\xff\\xfe raw'")
    assert formatter.format(make_record("got %s", b"\xff")).endswith("] got b'\\xff'")


def test_a_message_that_cannot_be_formatted_does_not_raise() -> None:
    text = LogFormatter(color=False).format(make_record("%d items", "many"))
    assert "Bad log message '%d items'" in text


def test_traceback_and_extra_lines_are_indented_under_the_line() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        exc_info = sys.exc_info()
    text = LogFormatter(color=False).format(make_record("first\nsecond", exc_info=exc_info))
    first, *rest = text.split("\n")
    assert first.endswith("] first")
    assert rest[0] == "    second"
    assert rest[1] == "    Traceback (most recent call last):"
    assert rest[-1] == "    ValueError: bad value"
    assert all(line.startswith("    ") for line in rest)


def test_brace_style_format_is_supported() -> None:
    formatter = LogFormatter(fmt="{levelname}|{message}", style="{", color=False)
    assert formatter.format(make_record("hi")) == "INFO|hi"


# ---- enable_pretty_logging ----------------------------------------------------------------------


def test_calling_twice_adds_only_one_handler(logger: logging.Logger) -> None:
    enable_pretty_logging(logger=logger)
    enable_pretty_logging(logger=logger)
    assert len(logger.handlers) == 1
    assert isinstance(logger.handlers[0].formatter, LogFormatter)
    assert logger.level == logging.INFO
    enable_pretty_logging(options(logging="debug"), logger=logger)
    enable_pretty_logging(options(logging="debug"), logger=logger)
    assert len(logger.handlers) == 1
    assert logger.level == logging.DEBUG


def test_without_options_a_configured_logger_is_left_alone(logger: logging.Logger) -> None:
    theirs = logging.NullHandler()
    logger.addHandler(theirs)
    logger.setLevel(logging.ERROR)
    enable_pretty_logging(logger=logger)
    assert logger.handlers == [theirs]
    assert logger.level == logging.ERROR


def test_without_options_a_root_logger_with_handlers_is_untouched() -> None:
    root = logging.getLogger()
    root.addHandler(foreign := logging.NullHandler())
    before = (list(root.handlers), root.level)
    try:
        enable_pretty_logging()
        assert (list(root.handlers), root.level) == before
    finally:
        root.removeHandler(foreign)


def test_logging_none_leaves_logging_alone(logger: logging.Logger) -> None:
    logger.setLevel(logging.WARNING)
    enable_pretty_logging(options(logging="none"), logger=logger)
    assert logger.handlers == [] and logger.level == logging.WARNING


def test_other_handlers_suppress_stderr_unless_asked(logger: logging.Logger) -> None:
    logger.addHandler(logging.NullHandler())
    enable_pretty_logging(options(), logger=logger)
    assert len(logger.handlers) == 1
    enable_pretty_logging(options(log_to_stderr=True), logger=logger)
    assert len(logger.handlers) == 2


def test_file_prefix_adds_a_size_rotating_file_handler(
    logger: logging.Logger, tmp_path: Path
) -> None:
    path = tmp_path / "app.log"
    opts = options(log_file_prefix=str(path), log_file_max_size=1000, log_file_num_backups=3)
    enable_pretty_logging(opts, logger=logger)
    enable_pretty_logging(opts, logger=logger)
    [handler] = logger.handlers
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    assert (handler.maxBytes, handler.backupCount) == (1000, 3)
    logger.info("to the file")
    handler.flush()
    assert re.fullmatch(r"\[I [^\]]+ test_log:\d+\] to the file\n", path.read_text("utf-8"))


def test_time_rotation_and_stderr_together(logger: logging.Logger, tmp_path: Path) -> None:
    opts = options(
        log_file_prefix=str(tmp_path / "t.log"),
        log_rotate_mode="time",
        log_rotate_when="H",
        log_rotate_interval=2,
        log_to_stderr=True,
    )
    enable_pretty_logging(opts, logger=logger)
    kinds = sorted(type(h).__name__ for h in logger.handlers)
    assert kinds == ["StreamHandler", "TimedRotatingFileHandler"]
    timed = next(
        h for h in logger.handlers if isinstance(h, logging.handlers.TimedRotatingFileHandler)
    )
    assert timed.interval == 2 * 3600


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"logging": "loud"}, "Unknown logging level"),
        ({"log_file_prefix": "x.log", "log_rotate_mode": "weekly"}, "log_rotate_mode"),
    ],
)
def test_bad_options_raise_and_leave_the_logger_untouched(
    logger: logging.Logger, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    enable_pretty_logging(logger=logger)
    before = list(logger.handlers)
    if "log_file_prefix" in values:
        values = {**values, "log_file_prefix": str(tmp_path / values["log_file_prefix"])}
    with pytest.raises(ValueError, match=message):
        enable_pretty_logging(options(**values), logger=logger)
    assert logger.handlers == before


class _FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("tty", "coloured"), [(True, True), (False, False)])
def test_stderr_handler_is_coloured_only_on_a_terminal(
    logger: logging.Logger, monkeypatch: pytest.MonkeyPatch, tty: bool, coloured: bool
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    stream = _FakeTTY() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    enable_pretty_logging(logger=logger)
    logger.info("shown")
    assert stream.getvalue().endswith(" shown\n")
    assert ("\033[" in stream.getvalue()) is coloured


def test_define_logging_options_is_the_option_parsers_own() -> None:
    from squall import options as options_module

    assert log.define_logging_options is options_module.define_logging_options
    assert "define_logging_options" in dir(log) and "define_logging_options" in log.__all__
    with pytest.raises(AttributeError, match="no attribute 'nonesuch'"):
        log.nonesuch  # noqa: B018  # the module __getattr__ refuses other names


def test_importing_log_does_not_import_the_option_parser() -> None:
    import subprocess

    code = (
        "import sys, squall.log\n"
        "assert 'squall.options' not in sys.modules, 'imported at once'\n"
        "from squall.log import define_logging_options\n"
        "import squall.options\n"
        "assert define_logging_options is squall.options.define_logging_options\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")
