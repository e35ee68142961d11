"""The pure helpers under RequestHandler: header validation (_web/headers) and ETags (_web/etag).

The handler-level behaviour (a 304, a refused header) is tested through real requests in
test_handler_output.py; here each rule is checked over its whole input space of one character.
"""

from __future__ import annotations

import datetime
import hashlib

import pytest

from squall._web import etag
from squall._web.headers import checked_name, field_value, is_plain, reason_phrase

TOKEN_CHARS = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
VALUE_CHARS = {"\t"} | {chr(c) for c in range(0x20, 0x7F)} | {chr(c) for c in range(0x80, 0x100)}


def test_a_name_is_accepted_exactly_when_it_is_an_http_token() -> None:
    accepted = set()
    for code in range(0x100):
        name = f"X-{chr(code)}-Name"
        try:
            assert checked_name(name) == name
        except ValueError as exc:
            assert "must be an HTTP token" in str(exc)
        else:
            accepted.add(chr(code))
    assert accepted == TOKEN_CHARS
    with pytest.raises(ValueError, match="must be an HTTP token"):
        checked_name("")


def test_a_value_is_accepted_exactly_when_it_can_go_on_the_wire() -> None:
    accepted = set()
    for code in [*range(0x180), 0x2028, 0xFEFF]:
        value = f"a{chr(code)}b"
        try:
            assert field_value(value) == value
        except ValueError as exc:
            assert "Unsafe header value" in str(exc)
        else:
            accepted.add(chr(code))
            assert field_value(value.encode("latin-1")) == value  # bytes are read as latin-1
    assert accepted == VALUE_CHARS


def test_plain_means_a_known_name_and_printable_ascii_text() -> None:
    assert not is_plain("X-Never-Checked-Before", "text")  # the name must pass once first
    checked_name("X-Plain-Test")
    assert is_plain("X-Plain-Test", "text/plain; charset=UTF-8")
    assert not is_plain("X-Plain-Test", "caf\u00e9")  # valid, but not on the shortcut
    assert not is_plain("X-Plain-Test", "a\r\nSet-Cookie: x=1")
    assert not is_plain("X-Plain-Test", b"bytes")
    assert not is_plain("X-Plain-Test", 5)


def test_values_of_other_types_are_converted_or_refused() -> None:
    assert field_value(42) == "42"
    when = datetime.datetime(2024, 2, 29, 12, 0, 0)
    assert field_value(when) == "Thu, 29 Feb 2024 12:00:00 GMT"  # naive means UTC
    aware = when.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert field_value(aware) == "Thu, 29 Feb 2024 10:00:00 GMT"
    with pytest.raises(TypeError, match="use str, bytes, int or datetime"):
        field_value(1.5)


def test_reason_phrases_default_to_the_standard_one_and_refuse_line_breakers() -> None:
    assert reason_phrase(404, None) == "Not Found"
    assert reason_phrase(599, None) == "Unknown"
    assert reason_phrase(200, "Fine") == "Fine"
    assert reason_phrase(200, "bad\r\nX: y") == "Unknown"
    assert reason_phrase(200, "<script>") == "Unknown"


def test_the_default_etag_is_the_quoted_sha1_of_the_whole_body() -> None:
    digest = hashlib.sha1(b"hello world").hexdigest()
    assert etag.body_etag([b"hello world"]) == f'"{digest}"'
    assert etag.body_etag([b"hello", b" ", b"world"]) == f'"{digest}"'
    assert etag.body_etag([]) == f'"{hashlib.sha1(b"").hexdigest()}"'


@pytest.mark.parametrize(
    ("if_none_match", "expected"),
    [
        ('"abc"', True),
        ('W/"abc"', True),  # weak comparison: W/ is ignored on both sides
        ('"x", "abc"', True),
        ('W/"x",W/"abc"', True),
        ("*", True),
        ('"abcd"', False),
        ('"ab"', False),
        ("abc", False),  # not a quoted entity tag
        ("", False),
    ],
)
def test_if_none_match_uses_the_weak_comparison(if_none_match: str, expected: bool) -> None:
    assert etag.matches('"abc"', if_none_match) is expected
    assert etag.matches('W/"abc"', if_none_match) is expected
