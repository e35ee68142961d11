"""Tests for squall._forms (body parsing: urlencoded, multipart, their limits) and the small
httputil helpers of squall._httpfmt."""

from __future__ import annotations

import datetime
import time
from typing import Any

import httpx
import pytest

from squall._delegates import HTTPInputError
from squall._forms import (
    FormError,
    HTTPFile,
    ParseBodyConfig,
    ParseMultipartConfig,
    ParseUrlEncodedConfig,
    default_parse_body_config,
    parse_body_arguments,
    parse_multipart_form_data,
    parse_urlencoded,
    set_parse_body_config,
)
from squall._httpfmt import (
    _encode_header,
    _parse_header,
    format_timestamp,
    parse_cookie,
    qs_to_qsl,
    split_host_and_port,
    url_concat,
)

BOUNDARY = "1234567890abcdef"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"

Args = dict[str, list[bytes]]
Files = dict[str, list[HTTPFile]]


def part(disposition: str, body: bytes, *headers: str) -> bytes:
    """One multipart part (without its delimiter line): headers, blank line, body."""
    lines = [f"Content-Disposition: {disposition}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def multipart(*parts: bytes, boundary: str = BOUNDARY) -> bytes:
    """Join parts into a complete multipart body with CRLF delimiters and a final boundary."""
    delimiter = f"--{boundary}".encode()
    out = b"".join(delimiter + b"\r\n" + p + b"\r\n" for p in parts)
    return out + delimiter + b"--\r\n"


def parse(
    body: bytes,
    content_type: str = MULTIPART,
    headers: dict[str, str] | None = None,
    limits: ParseMultipartConfig | ParseUrlEncodedConfig | None = None,
) -> tuple[Args, Files]:
    arguments: Args = {}
    files: Files = {}
    if isinstance(limits, ParseMultipartConfig):
        config = ParseBodyConfig(multipart=limits)
    elif isinstance(limits, ParseUrlEncodedConfig):
        config = ParseBodyConfig(urlencoded=limits)
    else:
        config = None
    parse_body_arguments(content_type, body, arguments, files, headers, config=config)
    return arguments, files


# ---------- urlencoded ----------


def test_urlencoded_keeps_repeated_keys_blank_values_and_invalid_utf8() -> None:
    args, files = parse(
        b"a=1&a=2&blank=&b=caf%C3%A9&raw=%FF%FE&sp=x+y", "application/x-www-form-urlencoded"
    )
    assert args == {
        "a": [b"1", b"2"],
        "blank": [b""],
        "b": [b"caf\xc3\xa9"],
        "raw": [b"\xff\xfe"],
        "sp": [b"x y"],
    }
    assert files == {}


def test_urlencoded_merges_into_existing_arguments() -> None:
    arguments: Args = {"a": [b"query"]}
    parse_urlencoded(b"a=body&c=3", arguments)
    assert arguments == {"a": [b"query", b"body"], "c": [b"3"]}


def test_urlencoded_empty_body_adds_nothing() -> None:
    arguments: Args = {}
    parse_urlencoded(b"", arguments)
    assert arguments == {}


def test_urlencoded_content_type_with_charset_and_other_case_is_parsed() -> None:
    args, _ = parse(b"x=1", "Application/X-WWW-Form-Urlencoded; charset=UTF-8")
    assert args == {"x": [b"1"]}


def test_urlencoded_too_many_fields_is_a_form_error() -> None:
    limits = ParseUrlEncodedConfig(max_arguments=3)
    assert parse(b"a=1&b=2&c=3", "application/x-www-form-urlencoded", limits=limits)[0]
    with pytest.raises(FormError, match=r"Max number of fields exceeded .*\(limit 3\)"):
        parse(b"a=1&b=2&c=3&d=4", "application/x-www-form-urlencoded", limits=limits)


def test_urlencoded_default_limit_is_1000_fields() -> None:
    ctype = "application/x-www-form-urlencoded"
    assert len(parse(b"&".join([b"a=1"] * 1000), ctype)[0]["a"]) == 1000
    with pytest.raises(FormError, match="limit 1000"):
        parse(b"&".join([b"a=1"] * 1001), ctype)


def test_other_content_types_parse_nothing_and_raise_nothing() -> None:
    for ctype in ("application/json", "text/plain", "", "multipart/mixed; boundary=x"):
        assert parse(b"a=1", ctype, headers={"Content-Encoding": "gzip"}) == ({}, {})


# ---------- Content-Encoding ----------


@pytest.mark.parametrize("ctype", ["application/x-www-form-urlencoded", MULTIPART])
def test_form_body_with_content_encoding_gzip_is_a_form_error(ctype: str) -> None:
    with pytest.raises(FormError) as info:
        parse(b"a=1", ctype, headers={"Content-Encoding": "gzip"})
    assert str(info.value) == "Unsupported Content-Encoding: gzip"


def test_content_encoding_lookup_is_case_insensitive_and_identity_is_allowed() -> None:
    with pytest.raises(FormError, match="Unsupported Content-Encoding: br"):
        parse(b"a=1", "application/x-www-form-urlencoded", headers={"content-encoding": "br"})
    args, _ = parse(
        b"a=1", "application/x-www-form-urlencoded", headers={"Content-Encoding": "identity"}
    )
    assert args == {"a": [b"1"]}


# ---------- multipart ----------


def test_multipart_two_fields_and_two_files_including_rfc2231_filename() -> None:
    body = multipart(
        part('form-data; name="title"', b"Hello\r\nWorld"),
        part('form-data; name="title"', "second é".encode()),
        part(
            'form-data; name="upload"; filename="a.txt"',
            b"file one\r\n",
            "Content-Type: text/plain",
        ),
        part(
            'form-data; name="upload"; filename="fallback.txt"; '
            "filename*=UTF-8''%E2%82%AC%20rates.bin",
            b"\x00\xff\r\n--not-a-boundary",
        ),
    )
    args, files = parse(body)
    assert args == {"title": [b"Hello\r\nWorld", "second é".encode()]}
    assert files == {
        "upload": [
            HTTPFile("a.txt", b"file one\r\n", "text/plain"),
            HTTPFile("€ rates.bin", b"\x00\xff\r\n--not-a-boundary", "application/unknown"),
        ]
    }


def test_multipart_body_built_by_httpx_is_parsed_identically() -> None:
    request = httpx.Request(
        "POST",
        "http://example.com/",
        data={"name": "value é", "empty": ""},
        files={"doc": ("report.csv", b"a,b\r\n1,2\r\n", "text/csv")},
    )
    body = request.read()
    args, files = parse(body, request.headers["Content-Type"])
    assert args == {"name": ["value é".encode()], "empty": [b""]}
    assert files == {"doc": [HTTPFile("report.csv", b"a,b\r\n1,2\r\n", "text/csv")]}


def test_multipart_values_keep_their_exact_bytes_around_crlf() -> None:
    values = [b"", b"\r\n", b"\r\n\r\n", b"trailing\r", b"\nleading", b"-- dashes --"]
    body = multipart(*(part('form-data; name="v"', value) for value in values))
    args, _ = parse(body)
    assert args == {"v": values}


def test_multipart_with_bare_lf_line_endings_is_a_form_error() -> None:
    body = multipart(part('form-data; name="a"', b"1")).replace(b"\r\n", b"\n")
    with pytest.raises(FormError, match="Invalid multipart/form-data"):
        parse(body)


def test_multipart_accepts_leading_crlf_and_ignores_epilogue() -> None:
    body = b"\r\n" + multipart(part('form-data; name="a"', b"1")) + b"epilogue text"
    assert parse(body) == ({"a": [b"1"]}, {})


def test_multipart_preamble_is_ignored() -> None:
    body = b"This is a preamble.\r\nIt is not a part.\r\n" + multipart(
        part('form-data; name="a"', b"1")
    )
    assert parse(body) == ({"a": [b"1"]}, {})


def test_multipart_first_part_without_its_opening_boundary_is_read_like_tornado() -> None:
    # Tornado reads text before the first boundary as a part when it is one: a part's head
    # (with Content-Disposition), a blank line and a body.
    whole = multipart(part('form-data; name="a"', b"first"), part('form-data; name="b"', b"2"))
    body = whole[len(f"--{BOUNDARY}\r\n") :]
    assert parse(body) == ({"a": [b"first"], "b": [b"2"]}, {})


@pytest.mark.parametrize(
    ("disposition", "message"),
    [
        ("form-data", "has no name"),
        ('form-data; name=""', "has no name"),
        ('attachment; name="x"', "is 'attachment', not form-data"),
    ],
)
def test_multipart_part_without_a_form_data_name_is_a_form_error(
    disposition: str, message: str
) -> None:
    body = multipart(part(disposition, b"x"), part('form-data; name="kept"', b"yes"))
    with pytest.raises(FormError, match=message):
        parse(body)


def test_multipart_part_without_headers_is_a_form_error() -> None:
    body = f"--{BOUNDARY}\r\n\r\nvalue\r\n--{BOUNDARY}--\r\n".encode()
    with pytest.raises(FormError, match="has no Content-Disposition"):
        parse(body)


@pytest.mark.parametrize("char", ["\x00", "\x08", "\x1f", "\x7f", "\r"])
def test_multipart_control_character_in_a_part_header_is_a_form_error(char: str) -> None:
    body = multipart(part(f'form-data; name="f"; filename="a{char}b.txt"', b"x"))
    with pytest.raises(FormError, match="Invalid header value"):
        parse(body)


def test_multipart_tab_and_non_ascii_in_a_part_header_are_kept() -> None:
    body = multipart(part('form-data; name="f"; filename="a\tb é.txt"', b"x"))
    assert parse(body)[1]["f"][0].filename == "a\tb é.txt"


def test_multipart_empty_part_whose_delimiter_lacks_its_crlf_is_accepted() -> None:
    # Strictly the CRLF before "--boundary" is the delimiter's; Tornado accepts it missing
    # after an empty part, and so does squall. A body ending in CRLF keeps that CRLF.
    body = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="empty"\r\n\r\n'
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="crlf"\r\n\r\n'
        "\r\n\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="f"; filename="e.txt"\r\n\r\n'
        f"--{BOUNDARY}--\r\n"
    ).encode()
    args, files = parse(body)
    assert args == {"empty": [b""], "crlf": [b"\r\n"]}
    assert files == {"f": [HTTPFile("e.txt", b"", "application/unknown")]}


def test_multipart_parsing_can_be_disabled() -> None:
    body = multipart(part('form-data; name="a"', b"1"))
    with pytest.raises(FormError, match="multipart/form-data parsing is disabled"):
        parse(body, limits=ParseMultipartConfig(enabled=False))


def test_multipart_empty_filename_is_a_plain_value_like_tornado() -> None:
    body = multipart(
        part('form-data; name="f"; filename=""', b"", "Content-Type: application/octet-stream")
    )
    assert parse(body) == ({"f": [b""]}, {})


def test_multipart_quoted_parameters_keep_semicolons_quotes_and_windows_paths() -> None:
    body = multipart(
        part('form-data; name="a;b"; filename="say \\"hi\\".txt"', b"1"),
        part('form-data; name="p"; filename="C:\\dir\\x.txt"', b"2"),
        part("FORM-DATA; NAME=token", b"3"),
    )
    args, files = parse(body)
    assert args == {"token": [b"3"]}
    assert files["a;b"][0].filename == 'say "hi".txt'
    assert files["p"][0].filename == "C:\\dir\\x.txt"


def test_multipart_utf8_field_names_and_filenames_are_decoded() -> None:
    body = multipart(part('form-data; name="é"; filename="ü.txt"', b"x"))
    _, files = parse(body)
    assert files == {"é": [HTTPFile("ü.txt", b"x", "application/unknown")]}


def test_multipart_boundary_may_be_quoted_and_other_params_are_ignored() -> None:
    body = multipart(part('form-data; name="a"', b"1"), boundary="b:=q")
    args, _ = parse(body, 'multipart/form-data; charset=utf-8; boundary="b:=q"')
    assert args == {"a": [b"1"]}


def test_parse_multipart_form_data_is_public_and_takes_bytes_boundary() -> None:
    arguments: Args = {}
    files: Files = {}
    body = multipart(part('form-data; name="a"', b"1"))
    parse_multipart_form_data(BOUNDARY.encode(), body, arguments, files)
    assert arguments == {"a": [b"1"]}


def test_multipart_without_boundary_is_a_form_error() -> None:
    body = multipart(part('form-data; name="a"', b"1"))
    for ctype in ("multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data;"):
        with pytest.raises(FormError) as info:
            parse(body, ctype)
        assert str(info.value) == "Invalid multipart/form-data: no boundary"


@pytest.mark.parametrize("cut", [10, 40, 80, -12, -5, -3])
def test_multipart_truncated_body_is_a_form_error(cut: int) -> None:
    body = multipart(part('form-data; name="a"', b"some value"), part('form-data; name="b"', b"2"))
    with pytest.raises(FormError, match="Invalid multipart/form-data"):
        parse(body[:cut])


def test_multipart_empty_body_is_a_form_error() -> None:
    with pytest.raises(FormError, match="no final boundary"):
        parse(b"")


def test_multipart_wrong_boundary_is_a_form_error() -> None:
    body = multipart(part('form-data; name="a"', b"1"), boundary="other")
    with pytest.raises(FormError, match="Invalid multipart/form-data"):
        parse(body)


def test_multipart_part_without_header_block_is_a_form_error() -> None:
    body = f"--{BOUNDARY}\r\nno headers here\r\n--{BOUNDARY}--\r\n".encode()
    with pytest.raises(FormError, match="Invalid multipart/form-data"):
        parse(body)


def test_multipart_too_many_parts_is_a_form_error() -> None:
    limits = ParseMultipartConfig(max_parts=2)
    two = multipart(*(part(f'form-data; name="f{i}"', b"x") for i in range(2)))
    assert len(parse(two, limits=limits)[0]) == 2
    three = multipart(*(part(f'form-data; name="f{i}"', b"x") for i in range(3)))
    with pytest.raises(FormError, match=r"has too many parts \(limit 2\)"):
        parse(three, limits=limits)


def test_multipart_default_limit_is_100_parts() -> None:
    hundred = multipart(*(part(f'form-data; name="f{i}"', b"x") for i in range(100)))
    assert len(parse(hundred)[0]) == 100
    with pytest.raises(FormError, match="limit 100"):
        parse(multipart(*(part('form-data; name="f"', b"x") for _ in range(101))))


def test_multipart_oversize_field_is_a_form_error_but_files_are_not_limited_by_it() -> None:
    limits = ParseMultipartConfig(max_field_size=8)
    assert parse(multipart(part('form-data; name="a"', b"12345678")), limits=limits)[0]
    with pytest.raises(FormError, match="field 'a' exceeds 8 bytes"):
        parse(multipart(part('form-data; name="a"', b"123456789")), limits=limits)
    big_file = part('form-data; name="f"; filename="f.bin"', b"x" * 1000)
    assert parse(multipart(big_file), limits=limits)[1]["f"][0].body == b"x" * 1000


def test_multipart_max_file_size_limits_files() -> None:
    limits = ParseMultipartConfig(max_file_size=4)
    with pytest.raises(FormError, match="file 'f' exceeds 4 bytes"):
        parse(multipart(part('form-data; name="f"; filename="f"', b"12345")), limits=limits)


def test_multipart_oversize_part_headers_are_a_form_error() -> None:
    limits = ParseMultipartConfig(max_part_header_size=100)
    name = "n" * 40  # the header line is 78 bytes with its CRLF
    assert parse(multipart(part(f'form-data; name="{name}"', b"x")), limits=limits)[0]
    two_lines = part(f'form-data; name="{name}"', b"x", "Content-Type: text/plain")
    with pytest.raises(FormError, match=r"part header too large \(limit 100 bytes\)"):
        parse(multipart(two_lines), limits=limits)


def test_multipart_default_part_header_limit_is_10240_bytes() -> None:
    # One header line longer than python-multipart's own default (4224 bytes) is accepted.
    name = "n" * 10_000
    assert parse(multipart(part(f'form-data; name="{name}"', b"x")))[0] == {name: [b"x"]}
    with pytest.raises(FormError, match="header too large"):
        parse(multipart(part(f'form-data; name="{name}{name}"', b"x")))


def test_multipart_default_limits_reject_an_oversize_field() -> None:
    body = multipart(part('form-data; name="a"', b"x" * (1024 * 1024 + 1)))
    with pytest.raises(FormError, match="exceeds 1048576 bytes"):
        parse(body)


def test_multipart_non_utf8_part_header_is_a_form_error() -> None:
    body = multipart(
        part('form-data; name="a"', b"1", "X-Bad: ").replace(b"X-Bad: ", b"X-Bad: \xff")
    )
    with pytest.raises(FormError, match="not UTF-8"):
        parse(body)


# ---------- HTTPFile / ParseBodyConfig ----------


def test_httpfile_supports_attribute_and_item_access() -> None:
    f = HTTPFile(filename="a.txt", body=b"abc", content_type="text/plain")
    assert (f.filename, f.body, f.content_type) == ("a.txt", b"abc", "text/plain")
    assert (f["filename"], f["body"], f["content_type"]) == ("a.txt", b"abc", "text/plain")
    assert f.get("body") == b"abc"
    assert f.get("missing", 7) == 7
    with pytest.raises(KeyError):
        f["missing"]
    assert repr(f) == "HTTPFile(filename='a.txt', content_type='text/plain', body=<3 bytes>)"
    assert HTTPFile("a", b"").content_type == "application/unknown"


def test_parse_body_config_defaults_are_tornados() -> None:
    config = ParseBodyConfig()
    assert config.urlencoded.max_arguments == 1000
    multipart_config = config.multipart
    assert (multipart_config.enabled, multipart_config.max_parts) == (True, 100)
    assert multipart_config.max_part_header_size == 10240
    assert (multipart_config.max_field_size, multipart_config.max_file_size) == (1 << 20, None)
    assert ParseMultipartConfig(True, 5, 64).max_parts == 5  # Tornado's positional order


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ParseMultipartConfig(max_parts=-1), "max_parts must be an int >= 0, got -1"),
        (lambda: ParseMultipartConfig(max_part_header_size="1"), "max_part_header_size"),
        (lambda: ParseMultipartConfig(max_file_size=-1), "max_file_size"),
        (lambda: ParseUrlEncodedConfig(max_arguments=None), "max_arguments"),
    ],
)
def test_parse_body_config_refuses_bad_limits(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_set_parse_body_config_changes_the_default_everywhere() -> None:
    before = default_parse_body_config()
    body = multipart(part('form-data; name="a"', b"1"))
    try:
        set_parse_body_config(ParseBodyConfig(multipart=ParseMultipartConfig(enabled=False)))
        with pytest.raises(FormError, match="disabled"):
            parse(body)
        assert parse(b"a=1", "application/x-www-form-urlencoded")[0] == {"a": [b"1"]}
    finally:
        set_parse_body_config(before)
    assert parse(body)[0] == {"a": [b"1"]}
    with pytest.raises(TypeError, match="needs a ParseBodyConfig"):
        set_parse_body_config(ParseMultipartConfig())  # type: ignore[arg-type]


def test_form_error_is_an_http_input_error_and_a_value_error() -> None:
    assert issubclass(FormError, HTTPInputError)
    assert issubclass(FormError, ValueError)
    assert FormError("x").status_code == 400


def test_parse_header_splits_value_and_parameters() -> None:
    assert _parse_header('Form-Data; NAME="a;b"; flag=x') == (
        "Form-Data",
        {"name": "a;b", "flag": "x"},
    )
    assert _parse_header("text/html") == ("text/html", {})
    assert _parse_header("") == ("", {})
    assert _encode_header("form-data", {"name": "x", "b": None}) == "form-data; b; name=x"


# ---------- split_host_and_port / qs_to_qsl ----------


@pytest.mark.parametrize(
    ("netloc", "expected"),
    [
        ("example.com", ("example.com", None)),
        ("example.com:8080", ("example.com", 8080)),
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("[::1]:443", ("[::1]", 443)),
        ("[::1]", ("[::1]", None)),
        ("host:port", ("host:port", None)),
        ("", ("", None)),
    ],
)
def test_split_host_and_port(netloc: str, expected: tuple[str, int | None]) -> None:
    assert split_host_and_port(netloc) == expected


def test_qs_to_qsl_flattens_value_lists_in_order() -> None:
    assert list(qs_to_qsl({"a": [b"1", b"2"], "b": [], "c": ["x"]})) == [
        ("a", b"1"),
        ("a", b"2"),
        ("c", "x"),
    ]


# ---------- parse_cookie ----------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("  a = 1 ;b=2;  ", {"a": "1", "b": "2"}),
        ('q="quoted value"', {"q": "quoted value"}),
        ('q="a\\"b\\\\c"', {"q": 'a"b\\c'}),
        ('q="\\054\\073"', {"q": ",;"}),
        ('q="unterminated', {"q": '"unterminated'}),
        ("novalue", {"": "novalue"}),
        ("a=1; flag; b=2", {"a": "1", "": "flag", "b": "2"}),
        ("key=", {"key": ""}),
        ("eq=a=b=c", {"eq": "a=b=c"}),
        ("a=1; a=2", {"a": "2"}),
        (";;; ", {}),
        ("", {}),
        ('json={"k": 1}', {"json": '{"k": 1}'}),
    ],
)
def test_parse_cookie_is_lenient_like_tornado(header: str, expected: dict[str, str]) -> None:
    assert parse_cookie(header) == expected


# ---------- url_concat ----------


def test_url_concat_with_dict_appends_to_existing_query() -> None:
    assert url_concat("http://x.org/p?a=1&b=", {"c": "2", "d": "e f"}) == (
        "http://x.org/p?a=1&b=&c=2&d=e+f"
    )
    assert url_concat("/p", {"a": 1}) == "/p?a=1"


def test_url_concat_with_pairs_allows_repeated_names_and_keeps_fragment() -> None:
    assert url_concat("http://x.org/p#frag", [("a", "1"), ("a", "2")]) == (
        "http://x.org/p?a=1&a=2#frag"
    )
    assert url_concat("http://x.org/p?z=0", (("a", "1"),)) == "http://x.org/p?z=0&a=1"


def test_url_concat_with_none_or_empty_args() -> None:
    assert url_concat("http://x.org/p?a=1", None) == "http://x.org/p?a=1"
    assert url_concat("http://x.org/p", {}) == "http://x.org/p"


def test_url_concat_rejects_other_arg_types() -> None:
    with pytest.raises(TypeError) as info:
        url_concat("http://x.org/", "a=1")  # type: ignore[arg-type]
    assert "dict, a list or tuple of (name, value) pairs, or None; got str" in str(info.value)


# ---------- format_timestamp ----------

EPOCH = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT (RFC 7231's example)
EXPECTED = "Sun, 06 Nov 1994 08:49:37 GMT"


def test_format_timestamp_from_int_and_float() -> None:
    assert format_timestamp(EPOCH) == EXPECTED
    assert format_timestamp(EPOCH + 0.75) == EXPECTED


def test_format_timestamp_from_struct_time_and_tuple() -> None:
    assert format_timestamp(time.gmtime(EPOCH)) == EXPECTED
    assert format_timestamp(tuple(time.gmtime(EPOCH))) == EXPECTED


def test_format_timestamp_from_naive_and_aware_datetime() -> None:
    assert format_timestamp(datetime.datetime(1994, 11, 6, 8, 49, 37)) == EXPECTED
    tz = datetime.timezone(datetime.timedelta(hours=2))
    assert format_timestamp(datetime.datetime(1994, 11, 6, 10, 49, 37, tzinfo=tz)) == EXPECTED


def test_format_timestamp_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="got str"):
        format_timestamp("1994-11-06")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got date"):
        format_timestamp(datetime.date(1994, 11, 6))  # type: ignore[arg-type]


def test_multipart_final_boundary_without_trailing_crlf_is_complete() -> None:
    body = multipart(part('form-data; name="a"', b"1"))
    assert body.endswith(b"--\r\n")
    assert parse(body[:-2]) == ({"a": [b"1"]}, {})
