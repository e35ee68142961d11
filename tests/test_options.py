"""Tests for squall.options: defining options, parsing them, reading them back."""

from __future__ import annotations

import datetime
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from squall import options as options_module
from squall.options import Error, OptionParser, define_logging_options


@pytest.fixture
def parser() -> OptionParser:
    return OptionParser()


def parse(parser: OptionParser, *args: str, final: bool = True) -> list[str]:
    return parser.parse_command_line(["prog", *args], final=final)


def parse_error(parser: OptionParser, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Parse ``args``, which must raise ``Error``; return its message (nothing is printed)."""
    with pytest.raises(Error) as info:
        parse(parser, *args)
    assert capsys.readouterr() == ("", "")
    message = str(info.value)
    assert "\n" not in message  # one line, fit for sys.exit(f"error: {exc}")
    return message


# ---------------------------------------------------------------- command line: basic types


def test_type_is_inferred_from_default_and_values_are_parsed_to_it(parser: OptionParser) -> None:
    parser.define("port", default=8888)
    parser.define("ratio", default=0.5)
    parser.define("name", default="x")
    parser.define("debug", default=False)
    parser.define("untyped")
    parse(parser, "--port=8000", "--ratio=1.5", "--name=hello", "--debug=true", "--untyped=7")
    assert (parser.port, parser.ratio, parser.name, parser.debug) == (8000, 1.5, "hello", True)
    assert parser.untyped == "7"  # no default, no type: str


def test_unset_option_reads_as_its_default(parser: OptionParser) -> None:
    parser.define("port", default=8888)
    parser.define("nothing", type=int)
    parse(parser)
    assert parser.port == 8888
    assert parser.nothing is None


def test_bare_flag_sets_a_boolean_option_true(parser: OptionParser) -> None:
    parser.define("debug", default=False)
    parse(parser, "--debug")
    assert parser.debug is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [("false", False), ("FALSE", False), ("0", False), ("f", False), ("F", False)]
    + [("true", True), ("1", True), ("yes", True), ("anything", True)],
)
def test_bool_text_is_false_only_for_false_0_and_f(
    parser: OptionParser, text: str, expected: bool
) -> None:
    parser.define("debug", default=not expected)
    parse(parser, f"--debug={text}")
    assert parser.debug is expected


def test_single_dash_and_double_dash_both_introduce_options(parser: OptionParser) -> None:
    parser.define("port", default=1)
    parse(parser, "-port=2")
    assert parser.port == 2


def test_custom_type_is_called_with_the_text(parser: OptionParser) -> None:
    parser.define("root", type=Path)
    parse(parser, "--root=/srv/www")
    assert parser.root == Path("/srv/www")


# ---------------------------------------------------------------- command line: errors


def test_space_separated_value_is_rejected_for_a_non_boolean(
    parser: OptionParser, capsys: pytest.CaptureFixture[str]
) -> None:
    parser.define("port", default=8888)
    err = parse_error(parser, capsys, "--port", "8000")
    assert err.startswith("Option 'port' requires a value")
    assert "--port=VALUE" in err
    assert parser.port == 8888


def test_unknown_option_raises_error_with_a_one_line_hint(
    parser: OptionParser, capsys: pytest.CaptureFixture[str]
) -> None:
    err = parse_error(parser, capsys, "--nope=3")
    assert err == "unrecognized option '--nope'; run 'prog --help' to list the options"


def test_invalid_value_raises_error_naming_the_option_type_and_text(
    parser: OptionParser, capsys: pytest.CaptureFixture[str]
) -> None:
    parser.define("port", default=8888)
    err = parse_error(parser, capsys, "--port=abc")
    assert err.startswith("option --port: invalid int value: 'abc'; run 'prog --help'")


def test_error_before_any_option_is_set_leaves_earlier_ones_set(
    parser: OptionParser, capsys: pytest.CaptureFixture[str]
) -> None:
    parser.define("a", default=0)
    parser.define("b", default=0)
    parse_error(parser, capsys, "--a=1", "--b=x")
    assert (parser.a, parser.b) == (1, 0)


def test_callbacks_do_not_run_when_parsing_fails(
    parser: OptionParser, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []
    parser.add_parse_callback(lambda: calls.append("parsed"))
    parse_error(parser, capsys, "--unknown")
    assert calls == []


# ---------------------------------------------------------------- command line: structure


def test_parsing_stops_at_the_first_positional_and_returns_the_rest(parser: OptionParser) -> None:
    parser.define("port", default=1)
    parser.define("debug", default=False)
    remaining = parse(parser, "--port=2", "run", "--debug", "x")
    assert remaining == ["run", "--debug", "x"]
    assert parser.port == 2
    assert parser.debug is False


def test_double_dash_is_consumed_and_stops_parsing(parser: OptionParser) -> None:
    parser.define("debug", default=False)
    assert parse(parser, "--", "--debug", "x") == ["--debug", "x"]
    assert parser.debug is False


def test_lone_dash_is_a_positional_argument(parser: OptionParser) -> None:
    assert parse(parser, "-", "x") == ["-", "x"]


def test_no_arguments_leave_nothing_remaining(parser: OptionParser) -> None:
    assert parse(parser) == []
    assert parser.parse_command_line([]) == []


def test_args_default_to_sys_argv(parser: OptionParser) -> None:
    parser.define("port", default=1)
    with mock.patch("sys.argv", ["app.py", "--port=5", "extra"]):
        assert parser.parse_command_line() == ["extra"]
    assert parser.port == 5


def test_dashes_and_underscores_are_interchangeable_in_names(parser: OptionParser) -> None:
    parser.define("max_body_size", default=1)
    parser.define("cookie-secret", default="")
    parse(parser, "--max-body-size=10", "--cookie_secret=s3")
    assert parser.max_body_size == 10
    assert getattr(parser, "max-body-size") == 10
    assert parser.cookie_secret == "s3"
    assert parser["cookie-secret"] == "s3"
    assert "max-body-size" in parser
    assert "cookie_secret" in parser
    assert list(parser)[-2:] == ["max_body_size", "cookie-secret"]  # names as defined


# ---------------------------------------------------------------- multiple values


def test_multiple_int_option_takes_commas_and_inclusive_ranges(parser: OptionParser) -> None:
    parser.define("ids", type=int, multiple=True)
    parse(parser, "--ids=1:3,7,10:11")
    assert parser.ids == [1, 2, 3, 7, 10, 11]


def test_multiple_option_value_replaces_rather_than_appends(parser: OptionParser) -> None:
    parser.define("names", multiple=True)
    parse(parser, "--names=a,b", "--names=c")
    assert parser.names == ["c"]


def test_multiple_option_defaults_to_empty_list_and_infers_item_type(parser: OptionParser) -> None:
    parser.define("tags", multiple=True)
    parser.define("ports", default=[80], multiple=True)
    assert parser.tags == []
    parse(parser, "--ports=81:82")
    assert parser.ports == [81, 82]


def test_empty_value_for_multiple_option_is_an_empty_list(parser: OptionParser) -> None:
    parser.define("ids", default=[1], multiple=True)
    parse(parser, "--ids=")
    assert parser.ids == []


def test_reversed_int_range_is_an_error(
    parser: OptionParser, capsys: pytest.CaptureFixture[str]
) -> None:
    parser.define("ids", type=int, multiple=True)
    err = parse_error(parser, capsys, "--ids=5:3")
    assert "invalid int range '5:3'" in err


def test_colon_is_not_a_range_for_non_int_multiple(parser: OptionParser) -> None:
    parser.define("hosts", multiple=True)
    parse(parser, "--hosts=a:1,b:2")
    assert parser.hosts == ["a:1", "b:2"]


# ---------------------------------------------------------------- datetime and timedelta


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wed Jan 31 12:30:45 2024", datetime.datetime(2024, 1, 31, 12, 30, 45)),
        ("2024-01-31 12:30:45", datetime.datetime(2024, 1, 31, 12, 30, 45)),
        ("2024-01-31 12:30", datetime.datetime(2024, 1, 31, 12, 30)),
        ("2024-01-31T12:30", datetime.datetime(2024, 1, 31, 12, 30)),
        ("20240131 12:30:45", datetime.datetime(2024, 1, 31, 12, 30, 45)),
        ("20240131 12:30", datetime.datetime(2024, 1, 31, 12, 30)),
        ("2024-01-31", datetime.datetime(2024, 1, 31)),
        ("20240131", datetime.datetime(2024, 1, 31)),
        ("12:30:45", datetime.datetime(1900, 1, 1, 12, 30, 45)),
        ("12:30", datetime.datetime(1900, 1, 1, 12, 30)),
    ],
)
def test_datetime_option_accepts_each_documented_format(
    parser: OptionParser, text: str, expected: datetime.datetime
) -> None:
    parser.define("start", type=datetime.datetime)
    parse(parser, f"--start={text}")
    assert parser.start == expected


def test_unparsable_datetime_raises_error_with_a_format_hint(
    parser: OptionParser, capsys: pytest.CaptureFixture[str]
) -> None:
    parser.define("start", type=datetime.datetime)
    err = parse_error(parser, capsys, "--start=yesterday")
    assert "invalid datetime value: 'yesterday'" in err
    assert "2024-01-31" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h 30m", datetime.timedelta(hours=1, minutes=30)),
        ("1h30m", datetime.timedelta(hours=1, minutes=30)),
        ("45s", datetime.timedelta(seconds=45)),
        ("45", datetime.timedelta(seconds=45)),
        ("2.5 days", datetime.timedelta(days=2.5)),
        ("1w 1d", datetime.timedelta(days=8)),
        ("3 weeks", datetime.timedelta(weeks=3)),
        ("100ms", datetime.timedelta(milliseconds=100)),
        ("250us", datetime.timedelta(microseconds=250)),
        ("10 sec", datetime.timedelta(seconds=10)),
        ("5 min", datetime.timedelta(minutes=5)),
        ("2 hours 1e1 s", datetime.timedelta(hours=2, seconds=10)),
        ("-30m", datetime.timedelta(minutes=-30)),
        ("1H 2M", datetime.timedelta(hours=1, minutes=2)),
    ],
)
def test_timedelta_option_parses_units(
    parser: OptionParser, text: str, expected: datetime.timedelta
) -> None:
    parser.define("timeout", type=datetime.timedelta)
    parse(parser, f"--timeout={text}")
    assert parser.timeout == expected


@pytest.mark.parametrize("text", ["5 fortnights", "", "h", "1h x"])
def test_bad_timedelta_raises_error_with_a_form_hint(
    parser: OptionParser, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    parser.define("timeout", type=datetime.timedelta)
    err = parse_error(parser, capsys, f"--timeout={text}")
    assert f"invalid timedelta value: {text!r}" in err
    assert "'1h 30m'" in err


def test_multiple_timedeltas_are_comma_separated(parser: OptionParser) -> None:
    parser.define("delays", type=datetime.timedelta, multiple=True)
    parse(parser, "--delays=1s,2m")
    assert parser.delays == [datetime.timedelta(seconds=1), datetime.timedelta(minutes=2)]


# ---------------------------------------------------------------- --help


def define_grouped(parser: OptionParser) -> None:
    parser.define("port", default=8888, group="server", help="port to listen on")
    parser.define("address", group="server", metavar="HOST", help="address to bind")
    parser.define("debug", default=False, group="server", help="debug mode")
    parser.define("db_urls", multiple=True, group="db", help="database URLs")


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_grouped_sorted_options_to_stderr_and_exits_0(
    parser: OptionParser, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    define_grouped(parser)
    with pytest.raises(SystemExit) as info:
        parser.parse_command_line(["/usr/bin/myapp", flag])
    assert info.value.code == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[:3] == ["Usage: myapp [OPTIONS]", "", "Options:"]
    assert lines[4].startswith("  --help ") and "show this help" in lines[4]
    db, server = lines.index("db options:"), lines.index("server options:")
    assert db < server  # groups in alphabetical order
    assert lines[db + 2].startswith("  --db-urls=STR,... ")  # command-line style
    server_lines = lines[server + 2 :]
    assert [line.split()[0] for line in server_lines] == [
        "--address=HOST",
        "--debug",
        "--port=INT",
    ]
    assert server_lines[2].endswith("port to listen on (default 8888)")
    assert server_lines[1].endswith("debug mode (default False)")


def test_help_wraps_long_descriptions_within_79_columns(parser: OptionParser) -> None:
    parser.define("x", help="word " * 40, group="g")
    parser.define("a_very_long_option_name_that_fills_the_column", default=1, group="g")
    out = io.StringIO()
    parser.print_help(out)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 79
    start = lines.index("  --x=STR" + " " * 23 + "word word word word word word word word word")
    assert lines[start + 1].startswith(" " * 32 + "word")
    long_flag = lines.index("  --a-very-long-option-name-that-fills-the-column=INT")
    assert lines[long_flag + 1] == " " * 32 + "(default 1)"


def test_help_callback_runs_only_for_a_true_value(parser: OptionParser) -> None:
    parse(parser, "--help=false")
    assert parser.help is False


# ---------------------------------------------------------------- definition


def test_group_defaults_to_the_defining_file(parser: OptionParser) -> None:
    parser.define("port", default=1)
    parser.define("name", default="n", group="app")
    assert __file__ in parser.groups()
    assert parser.group_dict(__file__) == {"port": 1}
    assert parser.group_dict("app") == {"name": "n"}


def test_module_level_define_records_the_callers_file_not_options_py() -> None:
    name = "test_options_module_level_define_probe"
    try:
        options_module.define(name, default=3, help="probe")
        assert options_module.options[name] == 3
        assert options_module.options.group_dict(__file__) == {name: 3}
    finally:
        options_module.options._options.pop(name, None)


def test_redefinition_raises_error_naming_both_locations(parser: OptionParser) -> None:
    parser.define("port", default=1)
    with pytest.raises(Error) as info:
        parser.define("port", default=2)
    message = str(info.value)
    assert "Option 'port' already defined in" in message
    assert message.count(f"{__file__}:") == 2
    assert parser.port == 1


def test_redefinition_with_the_other_spelling_is_still_an_error(parser: OptionParser) -> None:
    parser.define("foo_bar", default=1)
    with pytest.raises(Error, match="already defined"):
        parser.define("foo-bar", default=2)


@pytest.mark.parametrize("name", ["", "--port", "a=b"])
def test_malformed_option_names_are_rejected(parser: OptionParser, name: str) -> None:
    with pytest.raises(Error, match="Invalid option name"):
        parser.define(name)


# ---------------------------------------------------------------- attribute and item access


def test_attribute_assignment_is_type_checked(parser: OptionParser) -> None:
    parser.define("port", default=8888)
    with pytest.raises(Error, match=r"Option 'port' is required to be a int \(str given\)"):
        parser.port = "80"
    with pytest.raises(Error, match=r"\(bool given\)"):
        parser.port = True
    parser.port = 80
    assert parser.port == 80
    parser.port = None
    assert parser.port is None


def test_float_option_accepts_an_int(parser: OptionParser) -> None:
    parser.define("ratio", default=0.5)
    parser.ratio = 2
    assert parser.ratio == 2


def test_multiple_option_assignment_requires_a_list_of_the_type(parser: OptionParser) -> None:
    parser.define("ids", type=int, multiple=True)
    with pytest.raises(Error, match="required to be a list of int"):
        parser.ids = 3
    with pytest.raises(Error, match="required to be a list of int"):
        parser.ids = [1, "2"]
    parser.ids = [1, 2]
    assert parser.ids == [1, 2]


def test_unknown_names_raise_attribute_error_and_key_error(parser: OptionParser) -> None:
    with pytest.raises(AttributeError, match="Unrecognized option 'nope'"):
        _ = parser.nope
    with pytest.raises(AttributeError, match="Unrecognized option 'nope'"):
        parser.nope = 1
    with pytest.raises(KeyError):
        _ = parser["nope"]
    with pytest.raises(KeyError):
        parser["nope"] = 1
    assert "nope" not in parser
    assert 3 not in parser


def test_mapping_views_report_names_as_defined_with_current_values(parser: OptionParser) -> None:
    parser.define("port", default=1, group="server")
    parser.define("log-dir", default="/tmp", group="files")
    parser["port"] = 2
    assert parser["port"] == 2
    assert list(parser) == ["help", "port", "log-dir"]
    assert parser.items() == [("help", None), ("port", 2), ("log-dir", "/tmp")]
    assert parser.as_dict() == {"help": None, "port": 2, "log-dir": "/tmp"}
    assert parser.group_dict("files") == {"log-dir": "/tmp"}
    assert parser.group_dict("") == parser.as_dict()
    assert parser.groups() == {"", "server", "files"}


def test_option_named_like_a_method_is_reachable_as_an_item(parser: OptionParser) -> None:
    parser.define("items", default=5)
    assert parser["items"] == 5
    assert callable(parser.items)


# ---------------------------------------------------------------- callbacks


def test_option_callback_receives_each_new_value(parser: OptionParser) -> None:
    seen: list[object] = []
    parser.define("port", default=1, callback=seen.append)
    parse(parser, "--port=2")
    parser.port = 3
    assert seen == [2, 3]


def test_parse_callbacks_run_in_order_only_when_final(parser: OptionParser) -> None:
    calls: list[str] = []
    parser.add_parse_callback(lambda: calls.append("first"))
    parser.add_parse_callback(lambda: calls.append("second"))
    parse(parser, final=False)
    assert calls == []
    parse(parser)
    assert calls == ["first", "second"]
    parser.run_parse_callbacks()
    assert calls == ["first", "second"] * 2


# ---------------------------------------------------------------- config files


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.conf"
    path.write_text(text)
    return path


def test_config_file_sets_options_and_parses_strings_as_on_the_command_line(
    parser: OptionParser, tmp_path: Path
) -> None:
    parser.define("port", default=1)
    parser.define("ids", type=int, multiple=True)
    parser.define("timeout", type=datetime.timedelta)
    parser.define("ratio", default=0.5)
    parser.define("name", default="")
    path = write_config(
        tmp_path,
        'port = "8001"\nids = "1:3"\ntimeout = "1m"\nratio = 2.5\n'
        "name = 'x' * 3\nunrelated = object()\n_helper = 1\n",
    )
    parser.parse_config_file(path)
    assert parser.port == 8001
    assert parser.ids == [1, 2, 3]
    assert parser.timeout == datetime.timedelta(minutes=1)
    assert parser.ratio == 2.5
    assert parser.name == "xxx"


def test_config_file_sees_its_absolute_path_as_dunder_file(
    parser: OptionParser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parser.define("static_path", default="")
    write_config(tmp_path, "import os\nstatic_path = os.path.join(os.path.dirname(__file__), 's')")
    monkeypatch.chdir(tmp_path)
    parser.parse_config_file("app.conf")
    assert parser.static_path == str(tmp_path / "s")


def test_config_file_list_for_multiple_option_has_its_strings_parsed(
    parser: OptionParser, tmp_path: Path
) -> None:
    parser.define("ports", type=int, multiple=True)
    parser.parse_config_file(write_config(tmp_path, "ports = ['80', 443]\n"))
    assert parser.ports == [80, 443]


def test_config_file_bad_value_raises_error_naming_file_and_option(
    parser: OptionParser, tmp_path: Path
) -> None:
    parser.define("port", default=1)
    path = write_config(tmp_path, 'port = "eighty"\n')
    with pytest.raises(Error) as info:
        parser.parse_config_file(path)
    assert str(info.value) == f"{path}: Option 'port': invalid int value: 'eighty'"


def test_config_file_wrongly_typed_value_raises_error_naming_file(
    parser: OptionParser, tmp_path: Path
) -> None:
    parser.define("port", default=1)
    path = write_config(tmp_path, "port = [80]\n")
    with pytest.raises(Error, match=r"app\.conf: Option 'port' is required to be a int"):
        parser.parse_config_file(path)


def test_config_file_runs_parse_callbacks_only_when_final(
    parser: OptionParser, tmp_path: Path
) -> None:
    calls: list[str] = []
    parser.add_parse_callback(lambda: calls.append("parsed"))
    path = write_config(tmp_path, "")
    parser.parse_config_file(path, final=False)
    assert calls == []
    parser.parse_config_file(path)
    assert calls == ["parsed"]


def test_config_file_syntax_error_reports_the_file(parser: OptionParser, tmp_path: Path) -> None:
    path = write_config(tmp_path, "port = = 1\n")
    with pytest.raises(SyntaxError) as info:
        parser.parse_config_file(path)
    assert info.value.filename == str(path)


# ---------------------------------------------------------------- mockable


def test_mockable_patches_an_option_and_restores_it(parser: OptionParser) -> None:
    parser.define("port", default=8888)
    with mock.patch.object(parser.mockable(), "port", 9000):
        assert parser.port == 9000
    assert parser.port == 8888
    parser.port = 1  # still tracking: the option was restored to "unset", not pinned to 8888
    assert parser.port == 1


def test_mockable_nested_patches_unwind_in_order(parser: OptionParser) -> None:
    parser.define("port", default=8888)
    mockable = parser.mockable()
    with mock.patch.object(mockable, "port", 1):
        with mock.patch.object(mockable, "port", 2):
            assert parser.port == 2
        assert parser.port == 1
    assert parser.port == 8888


def test_mockable_type_checks_the_patched_value(parser: OptionParser) -> None:
    parser.define("port", default=8888)
    with pytest.raises(Error, match="required to be a int"):
        with mock.patch.object(parser.mockable(), "port", "x"):
            pass  # pragma: no cover
    assert parser.port == 8888


# ---------------------------------------------------------------- logging options


def test_global_options_define_the_logging_options_with_tornado_defaults() -> None:
    opts = options_module.options
    assert opts.logging == "info"
    assert opts.log_to_stderr is None
    assert opts.log_file_prefix is None
    assert opts.log_file_max_size == 100 * 1000 * 1000
    assert opts.log_file_num_backups == 10
    assert opts.log_rotate_when == "midnight"
    assert opts.log_rotate_interval == 1
    assert opts.log_rotate_mode == "size"


def test_define_logging_options_on_a_fresh_parser_parses_them(parser: OptionParser) -> None:
    define_logging_options(parser)
    parse(parser, "--logging=debug", "--log-file-max-size=10", "--log_to_stderr", final=False)
    assert (parser.logging, parser.log_file_max_size, parser.log_to_stderr) == ("debug", 10, True)


@pytest.fixture
def new_root_handlers() -> Iterator[list[logging.Handler]]:
    """Yield a list that, after the test body fills it, holds the handlers the test added."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    added: list[logging.Handler] = []
    yield added
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_config_file_then_command_line_leave_exactly_one_new_handler(
    parser: OptionParser, tmp_path: Path, new_root_handlers: list[logging.Handler]
) -> None:
    pytest.importorskip("squall.log")
    root = logging.getLogger()
    before = list(root.handlers)
    define_logging_options(parser)
    log_path = tmp_path / "app.log"
    parser.parse_config_file(write_config(tmp_path, f"log_file_prefix = {str(log_path)!r}\n"))
    parse(parser, "--logging=warning")
    added = [handler for handler in root.handlers if handler not in before]
    assert len(added) == 1
    assert root.level == logging.WARNING


def test_parsing_twice_with_log_to_stderr_adds_one_stderr_handler(
    parser: OptionParser, new_root_handlers: list[logging.Handler]
) -> None:
    pytest.importorskip("squall.log")
    root = logging.getLogger()
    before = list(root.handlers)
    define_logging_options(parser)
    parse(parser, "--log_to_stderr")
    parse(parser, "--log_to_stderr", "--logging=error")
    added = [handler for handler in root.handlers if handler not in before]
    assert len(added) == 1
    assert root.level == logging.ERROR


def test_help_shows_dashes_and_introspection_keeps_the_defined_names(parser: OptionParser) -> None:
    parser.define("with-dash", group="g")
    parser.define("with_underscore", group="g")
    assert sorted(parser) == ["help", "with-dash", "with_underscore"]
    assert sorted(parser.group_dict("g")) == ["with-dash", "with_underscore"]
    out = io.StringIO()
    parser.print_help(out)
    assert "--with-dash" in out.getvalue() and "--with-underscore" in out.getvalue()
    assert "with_underscore" not in out.getvalue()


def test_parse_error_is_catchable_for_a_one_line_exit(parser: OptionParser) -> None:
    parser.define("port", default=1)
    with pytest.raises(SystemExit) as info:
        try:
            parse(parser, "--port=x")
        except Error as exc:
            raise SystemExit(f"error: {exc}") from None
    assert str(info.value.code).startswith("error: option --port: invalid int value: 'x'")
