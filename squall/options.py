"""Command-line and config-file options: squall's ``tornado.options``.

Each module defines the options it cares about with :func:`define`; the program parses them once
with :func:`parse_config_file` and/or :func:`parse_command_line` and reads them back from the global
:data:`options` object::

    from squall.options import define, options, parse_command_line

    define("port", default=8888, help="run on the given port")

    if __name__ == "__main__":
        parse_command_line()  # python app.py --port=9000
        app.listen(options.port)

Option names are global to a parser, and ``-`` and ``_`` are interchangeable in them:
``--log-file-prefix`` sets ``options.log_file_prefix``. Parsing with ``final=True`` (the default)
runs the parse callbacks; the global parser has one that configures logging with
``squall.log.enable_pretty_logging``, which never adds a second handler, so a program may parse a
config file and then the command line, both with ``final=True``.

A command-line mistake (unknown option, missing or invalid value) raises :class:`Error`, as in
Tornado, with a one-line message that says what to do; a script that wants argparse's manners
catches it::

    try:
        parse_command_line()
    except Error as exc:
        sys.exit(f"error: {exc}")  # one line on stderr, exit status 1

Differences from Tornado, on purpose:

* ``-h`` is accepted for ``--help``, a lone ``-`` is a positional argument, and an empty value of a
  ``multiple`` option (``--ids=``) is an empty list.
"""

from __future__ import annotations

import datetime
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, TypeAlias

__all__ = [
    "Error",
    "OptionParser",
    "add_parse_callback",
    "define",
    "define_logging_options",
    "options",
    "parse_command_line",
    "parse_config_file",
    "print_help",
]

#: What ``define(type=...)`` accepts: a class, or any callable turning the text into a value.
OptionType: TypeAlias = type[Any] | Callable[[str], Any]

_UNSET: Any = object()  # an option's value before anything sets it: value() gives the default

_DATETIME_FORMATS = (
    "%a %b %d %H:%M:%S %Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y%m%d %H:%M:%S",
    "%Y%m%d %H:%M",
    "%Y-%m-%d",
    "%Y%m%d",
    "%H:%M:%S",
    "%H:%M",
)

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_TIMEDELTA_PART = re.compile(rf"\s*({_NUMBER})\s*([a-zA-Z]*)\s*")
_TIMEDELTA_UNITS = {
    spelling: unit
    for unit, spellings in (
        ("microseconds", ("us", "usec", "usecs", "microsecond", "microseconds")),
        ("milliseconds", ("ms", "msec", "msecs", "millisecond", "milliseconds")),
        ("seconds", ("", "s", "sec", "secs", "second", "seconds")),
        ("minutes", ("m", "min", "mins", "minute", "minutes")),
        ("hours", ("h", "hr", "hrs", "hour", "hours")),
        ("days", ("d", "day", "days")),
        ("weeks", ("w", "wk", "wks", "week", "weeks")),
    )
    for spelling in spellings
}
_FORMAT_HINTS: dict[Any, str] = {
    datetime.datetime: " (use a form like '2024-01-31 12:30:00', '2024-01-31' or '12:30')",
    datetime.timedelta: " (use a form like '1h 30m', '45s' or '2.5 days')",
}

_HELP_COLUMN = 32  # where option descriptions start in --help output
_HELP_WIDTH = 79  # total line width of --help output


class Error(Exception):
    """An option was misdefined, set to a value of the wrong type, or given unparsable text."""


def _normalize(name: str) -> str:
    return name.replace("-", "_")


def _parse_datetime(text: str) -> datetime.datetime:
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    raise ValueError(f"no known datetime format matches {text!r}")


def _parse_timedelta(text: str) -> datetime.timedelta:
    if not text.strip():
        raise ValueError("empty timedelta")
    total = datetime.timedelta()
    position = 0
    while position < len(text):
        match = _TIMEDELTA_PART.match(text, position)
        if match is None:
            raise ValueError(f"cannot parse {text[position:]!r}")
        unit = _TIMEDELTA_UNITS.get(match.group(2).lower())
        if unit is None:
            raise ValueError(f"unknown unit {match.group(2)!r}")
        total += datetime.timedelta(**{unit: float(match.group(1))})
        position = match.end()
    return total


def _infer_type(default: Any, multiple: bool) -> OptionType:
    if multiple:  # the type of the list's items, as far as the default shows it
        default = default[0] if isinstance(default, list | tuple) and default else None
    return str if default is None else default.__class__


_PARSERS: dict[Any, Callable[[str], Any]] = {
    bool: lambda text: text.lower() not in ("false", "0", "f"),
    str: str,
    datetime.datetime: _parse_datetime,
    datetime.timedelta: _parse_timedelta,
}


@dataclass(slots=True, eq=False)
class _Option:
    """One defined option: its metadata and its current value."""

    name: str
    default: Any
    type: OptionType
    help: str | None
    metavar: str | None
    multiple: bool
    file_name: str
    line: int
    group_name: str
    callback: Callable[[Any], object] | None
    _value: Any = _UNSET

    @property
    def type_name(self) -> str:
        return str(getattr(self.type, "__name__", self.type))

    def value(self) -> Any:
        return self.default if self._value is _UNSET else self._value

    def convert(self, text: str) -> Any:
        """Turn command-line text into a value: a list for ``multiple``, with int ranges."""
        if not self.multiple:
            return self.convert_one(text)
        values: list[Any] = []
        for part in text.split(",") if text else []:
            start, colon, end = part.partition(":")
            if self.type is not int or not colon:
                values.append(self.convert_one(part))
                continue
            first, last = self.convert_one(start), self.convert_one(end)
            if first > last:
                raise Error(f"invalid int range {part!r}: the start is after the end")
            values.extend(range(first, last + 1))
        return values

    def convert_one(self, text: str) -> Any:
        parse = _PARSERS.get(self.type, self.type)
        try:
            return parse(text)
        except Exception as exc:  # a user-supplied type may raise anything for bad text
            hint = _FORMAT_HINTS.get(self.type, "")
            raise Error(f"invalid {self.type_name} value: {text!r}{hint}") from exc

    def accepts(self, value: Any) -> bool:
        if value is None or not isinstance(self.type, type):
            return True  # None means "unset"; a converter function's results are trusted
        if isinstance(value, bool) and self.type in (int, float):
            return False  # bool is an int subclass, but options.port = True is surely a mistake
        if self.type is float and isinstance(value, int):
            return True
        return isinstance(value, self.type)

    def set(self, value: Any) -> None:
        """Type-check and store ``value``, then call the option's callback with it."""
        if self.multiple:
            ok = isinstance(value, list) and all(self.accepts(item) for item in value)
            wanted = f"a list of {self.type_name}"
        else:
            ok, wanted = self.accepts(value), f"a {self.type_name}"
        if not ok:
            given = type(value).__name__
            raise Error(f"Option {self.name!r} is required to be {wanted} ({given} given)")
        self.restore(value)

    def restore(self, raw: Any) -> None:
        """Store ``raw`` unchecked (``_UNSET`` reverts to the default) and run the callback."""
        self._value = raw
        if self.callback is not None:
            self.callback(self.value())


class OptionParser:
    """A set of named options, read and set as attributes or items.

    ``options.port`` reads the value (the default until something sets it); ``options.port = 80``
    type-checks and sets it. Unknown names raise ``AttributeError`` (``KeyError`` for item
    access). An option whose name equals a method name (``items``, ``define``...) is reachable
    only as an item: ``options["items"]``. Every parser has a ``--help`` option.
    """

    __slots__ = ("_options", "_parse_callbacks", "_prog")
    _options: dict[str, _Option]
    _parse_callbacks: list[Callable[[], object]]
    _prog: str | None

    def __init__(self) -> None:
        object.__setattr__(self, "_options", {})
        object.__setattr__(self, "_parse_callbacks", [])
        object.__setattr__(self, "_prog", None)
        self.define(
            "help", type=bool, help="show this help and exit", callback=self._help, group=""
        )

    def _option(self, name: str) -> _Option | None:
        return self._options.get(_normalize(name))

    def _require(self, name: str, error: type[Exception]) -> _Option:
        option = self._options.get(_normalize(name))
        if option is None:
            raise error(f"Unrecognized option {name!r}: define() it first")
        return option

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in OptionParser.__slots__:
            raise AttributeError(name)  # not an option: keeps copy/pickle probes from recursing
        return self._require(name, AttributeError).value()

    def __setattr__(self, name: str, value: Any) -> None:
        self._require(name, AttributeError).set(value)

    def __getitem__(self, name: str) -> Any:
        return self._require(name, KeyError).value()

    def __setitem__(self, name: str, value: Any) -> None:
        self._require(name, KeyError).set(value)

    def __iter__(self) -> Iterator[str]:
        return iter([option.name for option in self._options.values()])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._option(name) is not None

    def items(self) -> list[tuple[str, Any]]:
        """Return ``(name, value)`` pairs for every option, in definition order."""
        return [(option.name, option.value()) for option in self._options.values()]

    def groups(self) -> set[str]:
        """Return the set of group names (by default, the files that defined options)."""
        return {option.group_name for option in self._options.values()}

    def group_dict(self, group: str) -> dict[str, Any]:
        """Return ``{name: value}`` for the options in ``group``; an empty group means all.

        Handy for passing a group of settings as keyword arguments:
        ``Application(handlers, **options.group_dict("application"))``."""
        return {
            option.name: option.value()
            for option in self._options.values()
            if not group or option.group_name == group
        }

    def as_dict(self) -> dict[str, Any]:
        """Return ``{name: value}`` for every option."""
        return self.group_dict("")

    def define(
        self,
        name: str,
        default: Any = None,
        type: OptionType | None = None,
        help: str | None = None,
        metavar: str | None = None,
        multiple: bool = False,
        group: str | None = None,
        callback: Callable[[Any], object] | None = None,
    ) -> None:
        """Define an option ``name``; ``--name=value`` on the command line then sets it.

        ``type`` defaults to the default's class (the first item's for a ``multiple`` list), else
        ``str``. Built-in parsing covers str, int, float, bool, ``datetime.datetime`` and
        ``datetime.timedelta``; any other type is called with the text. ``multiple=True`` makes
        the value a list, given comma-separated (ints also as inclusive ranges, ``1:3``).
        ``group`` (for ``--help`` and :meth:`group_dict`) defaults to the defining file.
        ``callback`` is called with the new value whenever the option is set.
        Defining a name twice (``-`` and ``_`` count as equal) raises :class:`Error`.
        """
        if not name or name.startswith("-") or "=" in name:
            raise Error(f"Invalid option name {name!r}: use letters, digits, '_' or '-'")
        frame = sys._getframe(1)
        if frame.f_code.co_filename == __file__ and frame.f_code.co_name == "define":
            frame = frame.f_back or frame  # called through the module-level define()
        file_name, line = frame.f_code.co_filename, frame.f_lineno
        existing = self._option(name)
        if existing is not None:
            raise Error(
                f"Option {name!r} already defined in {existing.file_name}:{existing.line}, "
                f"defined again at {file_name}:{line}; option names are global, pick another"
            )
        kind = _infer_type(default, multiple) if type is None else type
        if default is None and multiple:
            default = []
        group_name = file_name if group is None else group
        self._options[_normalize(name)] = _Option(
            name, default, kind, help, metavar, multiple, file_name, line, group_name, callback
        )

    def parse_command_line(
        self, args: Sequence[str] | None = None, final: bool = True
    ) -> list[str]:
        """Parse ``--name=value`` arguments and return the arguments left after them.

        ``args`` defaults to ``sys.argv``; ``args[0]`` is the program name. Parsing stops at the
        first argument not starting with ``-`` (returned with everything after it) or at ``--``
        (dropped). A boolean option may stand alone (``--debug`` means true); any other needs
        ``=value``: ``--port 80`` is an error. An unknown option or an unparsable value raises
        :class:`Error` (a one-line message ending with how to list the options); the options
        before it are set, the parse callbacks do not run. ``--help`` or ``-h`` prints the help
        to stderr and exits with status 0. With ``final=True`` the parse callbacks run
        afterwards.
        """
        args = list(sys.argv if args is None else args)
        object.__setattr__(self, "_prog", args[0] if args else None)
        remaining: list[str] = []
        for index in range(1, len(args)):
            arg = args[index]
            if arg == "-" or not arg.startswith("-"):
                remaining = args[index:]
                break
            if arg == "--":
                remaining = args[index + 1 :]
                break
            try:
                option, value = self._parse_argument(arg)
            except Error as exc:
                hint = f"run '{self._prog_name()} --help' to list the options"
                raise Error(f"{exc}; {hint}") from None
            option.set(value)
        if final:
            self.run_parse_callbacks()
        return remaining

    def _parse_argument(self, arg: str) -> tuple[_Option, Any]:
        name, equals, text = arg.lstrip("-").partition("=")
        option = self._option(name)
        if option is None and name == "h":
            option = self._options["help"]
        if option is None:
            raise Error(f"unrecognized option {arg.partition('=')[0]!r}")
        if not equals:
            if option.type is not bool:
                raise Error(
                    f"Option {option.name!r} requires a value: write --{option.name}=VALUE "
                    "(only boolean options may stand alone)"
                )
            text = "true"
        try:
            return option, option.convert(text)
        except Error as exc:
            raise Error(f"option --{option.name}: {exc}") from exc

    def _prog_name(self) -> str:
        prog = self._prog if self._prog is not None else (sys.argv[0] if sys.argv else "")
        return os.path.basename(prog) or "python"

    def _help(self, value: Any) -> None:
        if value:
            self.print_help()
            sys.exit(0)

    def parse_config_file(self, path: str | os.PathLike[str], final: bool = True) -> None:
        """Execute the Python file at ``path`` and set the options its global names match.

        ``__file__`` inside the file is its absolute path. Names that are not options are
        ignored. A string given for a non-string or ``multiple`` option is parsed as on the
        command line (``port = "8000"``, ``ids = "1:3,7"``); other values are type-checked.
        A bad value raises :class:`Error` naming the file and the option. With ``final=True``
        the parse callbacks run afterwards.
        """
        file_path = os.fspath(path)
        config: dict[str, Any] = {"__file__": os.path.abspath(file_path)}
        with open(file_path, "rb") as config_file:
            code = compile(config_file.read(), file_path, "exec")
        exec(code, config, config)
        for name, value in config.items():
            option = self._option(name)
            if option is None:
                continue
            try:
                option.set(self._config_value(option, value))
            except Error as exc:
                raise Error(f"{file_path}: {exc}") from exc
        if final:
            self.run_parse_callbacks()

    @staticmethod
    def _config_value(option: _Option, value: Any) -> Any:
        try:
            if isinstance(value, str) and (option.multiple or option.type is not str):
                return option.convert(value)
            if option.multiple and isinstance(value, list | tuple):
                parse = option.type is not str
                return [option.convert_one(v) if parse and isinstance(v, str) else v for v in value]
        except Error as exc:
            raise Error(f"Option {option.name!r}: {exc}") from exc
        return value

    def print_help(self, file: TextIO | None = None) -> None:
        """Print a usage line and every option, grouped and sorted, to ``file`` (stderr)."""
        by_group: dict[str, list[_Option]] = {}
        for option in self._options.values():
            by_group.setdefault(option.group_name, []).append(option)
        lines = [f"Usage: {self._prog_name()} [OPTIONS]", "", "Options:"]
        for group in sorted(by_group):
            lines.append("")
            if group:
                lines += [f"{os.path.normpath(group)} options:", ""]
            for option in sorted(by_group[group], key=lambda o: o.name):
                lines += _help_lines(option)
        print("\n".join(lines), file=sys.stderr if file is None else file)

    def add_parse_callback(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` after every parse with ``final=True``."""
        self._parse_callbacks.append(callback)

    def run_parse_callbacks(self) -> None:
        """Call the parse callbacks, in the order they were added."""
        for callback in list(self._parse_callbacks):
            callback()

    def mockable(self) -> _Mockable:
        """Return a view for ``mock.patch.object(options.mockable(), "name", value)``.

        Setting an attribute on the view sets the option (type-checked) and remembers the old
        value; deleting it, as ``mock.patch`` does on exit, restores the old value exactly.
        """
        return _Mockable(self)


class _Mockable:
    """An attribute view of an :class:`OptionParser` that ``unittest.mock.patch`` can undo."""

    __slots__ = ("_parser", "_saved")
    _parser: OptionParser
    _saved: dict[str, list[Any]]

    def __init__(self, parser: OptionParser) -> None:
        object.__setattr__(self, "_parser", parser)
        object.__setattr__(self, "_saved", {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in _Mockable.__slots__:
            raise AttributeError(name)
        return getattr(self._parser, name)

    def __setattr__(self, name: str, value: Any) -> None:
        option = self._parser._require(name, AttributeError)
        previous = option._value
        option.set(value)
        self._saved.setdefault(_normalize(name), []).append(previous)

    def __delattr__(self, name: str) -> None:
        option = self._parser._require(name, AttributeError)
        saved = self._saved.get(_normalize(name))
        if saved:  # else the set failed (mock.patch still undoes it) and nothing changed
            option.restore(saved.pop())


def _help_lines(option: _Option) -> list[str]:
    flag = f"  --{option.name.replace('_', '-')}"  # command-line style, as Tornado shows it
    metavar = option.metavar
    if metavar is None and option.type is not bool:
        metavar = option.type_name.upper() + (",..." if option.multiple else "")
    if metavar:
        flag += f"={metavar}"
    description = option.help or ""
    default = option.default
    if default is not None and default != "" and default != []:
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        description += f" (default {shown})"
    wrapped = textwrap.wrap(description.strip(), _HELP_WIDTH - _HELP_COLUMN)
    lines = [" " * _HELP_COLUMN + text for text in wrapped]
    if lines and len(flag) < _HELP_COLUMN:  # the first line of description fits beside the flag
        return [flag.ljust(_HELP_COLUMN) + lines[0].lstrip()] + lines[1:]
    return [flag, *lines]


# (name, default, type, metavar, help) of each logging option.
_LOGGING_OPTIONS: tuple[tuple[str, Any, type[Any], str | None, str], ...] = (
    ("logging", "info", str, "debug|info|warning|error|none",
     "set the root log level; 'none' leaves the logging configuration alone"),
    ("log_to_stderr", None, bool, None,
     "log to stderr (in colour on a terminal); if unset, stderr is used when "
     "--log-file-prefix is not given and no other handler is configured"),
    ("log_file_prefix", None, str, "PATH",
     "write the log to files with this path prefix; with several processes, "
     "give each its own prefix (for example include the port)"),
    ("log_file_max_size", 100 * 1000 * 1000, int, None, "size in bytes at which to rotate"),
    ("log_file_num_backups", 10, int, None, "number of rotated log files to keep"),
    ("log_rotate_when", "midnight", str, None,
     "when to rotate in time mode: 'S', 'M', 'H', 'D', 'W0'-'W6' or 'midnight'"),
    ("log_rotate_interval", 1, int, None, "rotate every N 'when' units"),
    ("log_rotate_mode", "size", str, None, "rotate log files by 'size' or 'time'"),
)  # fmt: skip

#: The global parser that the module-level functions act on.
options = OptionParser()


def _global_parser() -> OptionParser:
    return options


def define(
    name: str,
    default: Any = None,
    type: OptionType | None = None,
    help: str | None = None,
    metavar: str | None = None,
    multiple: bool = False,
    group: str | None = None,
    callback: Callable[[Any], object] | None = None,
) -> None:
    """Define an option on the global :data:`options`; see :meth:`OptionParser.define`."""
    options.define(name, default, type, help, metavar, multiple, group, callback)


def parse_command_line(args: Sequence[str] | None = None, final: bool = True) -> list[str]:
    """Parse the command line into the global :data:`options`; see
    :meth:`OptionParser.parse_command_line`. Returns the arguments left after the options."""
    return options.parse_command_line(args, final=final)


def parse_config_file(path: str | os.PathLike[str], final: bool = True) -> None:
    """Parse a Python config file into the global :data:`options`; see
    :meth:`OptionParser.parse_config_file`."""
    options.parse_config_file(path, final=final)


def print_help(file: TextIO | None = None) -> None:
    """Print the global options' help to ``file`` (default stderr)."""
    options.print_help(file)


def add_parse_callback(callback: Callable[[], object]) -> None:
    """Call ``callback()`` after each ``final`` parse of the global :data:`options`."""
    options.add_parse_callback(callback)


def define_logging_options(options: OptionParser | None = None) -> None:
    """Define the logging options on ``options`` (default: the global parser).

    ``--logging=debug|info|warning|error|none``, ``--log-to-stderr``, ``--log-file-prefix=PATH``
    and the rotation settings. Also adds a parse callback that applies them with
    ``squall.log.enable_pretty_logging``, which adds no duplicate handler when called again.
    """
    parser = _global_parser() if options is None else options
    for name, default, kind, metavar, text in _LOGGING_OPTIONS:
        parser.define(name, default, kind, text, metavar)
    parser.add_parse_callback(lambda: _enable_logging(parser))


def _enable_logging(parser: OptionParser) -> None:
    # The leaf below squall.log, imported at the first parse: importing options stays cheap.
    from squall._logformat import enable_pretty_logging

    enable_pretty_logging(parser)


define_logging_options(options)
