"""Tests for squall.escape: Tornado's escaping and conversion helpers."""

from __future__ import annotations

import json
import tracemalloc
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from squall import escape
from squall.escape import (
    json_decode,
    json_encode,
    linkify,
    parse_qs_bytes,
    recursive_unicode,
    squeeze,
    to_unicode,
    url_escape,
    url_unescape,
    utf8,
    xhtml_escape,
    xhtml_unescape,
)

# ---------- utf8 / to_unicode ----------


def test_utf8_encodes_str_and_passes_bytes_and_none_through() -> None:
    raw = b"\xff\x00"
    assert utf8("caf\u00e9") == b"caf\xc3\xa9"
    assert utf8(raw) is raw
    assert utf8(None) is None


def test_utf8_rejects_other_types_with_tornado_message() -> None:
    with pytest.raises(TypeError) as info:
        utf8(12)  # type: ignore[call-overload]
    assert str(info.value) == "Expected bytes, unicode, or None; got <class 'int'>"


def test_to_unicode_decodes_bytes_and_passes_str_and_none_through() -> None:
    text = "déjà"
    assert to_unicode(b"d\xc3\xa9j\xc3\xa0") == "déjà"
    assert to_unicode(text) is text
    assert to_unicode(None) is None


def test_to_unicode_rejects_other_types_and_invalid_utf8() -> None:
    with pytest.raises(TypeError, match="Expected bytes, unicode, or None; got <class 'list'>"):
        to_unicode([])  # type: ignore[call-overload]
    with pytest.raises(UnicodeDecodeError):
        to_unicode(b"\xff")


def test_tornado_aliases_are_to_unicode() -> None:
    assert escape._unicode is to_unicode
    assert escape.native_str is to_unicode
    assert escape.to_basestring is to_unicode


def test_recursive_unicode_decodes_bytes_inside_containers_and_keeps_other_values() -> None:
    data = {b"k": [b"v", (b"t", 1)], "s": None, b"n": 2.5}
    assert recursive_unicode(data) == {"k": ["v", ("t", 1)], "s": None, "n": 2.5}
    assert isinstance(recursive_unicode((b"a",)), tuple)


# ---------- HTML ----------


def test_xhtml_escape_matches_tornado_output_exactly() -> None:
    assert xhtml_escape("<a href='x'>&\"") == "&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;"
    assert xhtml_escape(b"<b>\xc3\xa9</b>") == "&lt;b&gt;\u00e9&lt;/b&gt;"
    assert xhtml_escape("plain") == "plain"


def test_xhtml_unescape_handles_named_decimal_and_hex_references() -> None:
    assert xhtml_unescape("&lt;&gt;&amp;&quot;&#39;&#x27;&eacute;") == "<>&\"''\u00e9"
    assert xhtml_unescape(b"&amp;amp;") == "&amp;"
    assert xhtml_unescape("&bogus; & alone") == "&bogus; & alone"


@pytest.mark.parametrize("text", ["", "<script>alert('x')</script>", "a & b \"c\" 'd'", "é<>"])
def test_xhtml_escape_round_trips_through_unescape(text: str) -> None:
    assert xhtml_unescape(xhtml_escape(text)) == text


# ---------- JSON ----------


def test_json_encode_hides_closing_script_tags() -> None:
    encoded = json_encode({"html": "</script><script>"})
    assert "</" not in encoded
    assert encoded == '{"html": "<\\/script><script>"}'


def test_json_decode_accepts_str_and_bytes_and_round_trips() -> None:
    value = {"a": [1, 2.5, None, True], "b": "</x> é"}
    assert json_decode(json_encode(value)) == value
    assert json_decode(json_encode(value).encode()) == value
    with pytest.raises(json.JSONDecodeError):
        json_decode("{not json")


# ---------- URLs ----------


def test_url_escape_plus_uses_plus_for_space_and_escapes_slash() -> None:
    assert url_escape("a b/c") == "a+b%2Fc"
    assert url_escape("+ #%") == "%2B+%23%25"


def test_url_escape_without_plus_uses_percent20_and_keeps_slash() -> None:
    # Tornado: "slashes are left as-is", which is what URL paths need.
    assert url_escape("a b/c", plus=False) == "a%20b/c"
    assert url_escape("+ #%", plus=False) == "%2B%20%23%25"


def test_url_escape_encodes_str_as_utf8_and_accepts_bytes() -> None:
    assert url_escape("é") == "%C3%A9"
    assert url_escape(b"\xff ") == "%FF+"


def test_url_unescape_treats_plus_as_space_only_when_asked() -> None:
    assert url_unescape("a+b%20c") == "a b c"
    assert url_unescape("a+b%20c", plus=False) == "a+b c"
    assert url_unescape(b"caf%C3%A9+x") == "café x"


def test_url_unescape_with_encoding_none_returns_raw_bytes() -> None:
    assert url_unescape("%FF+%00", encoding=None) == b"\xff \x00"
    assert url_unescape(b"%FF+", encoding=None, plus=False) == b"\xff+"


def test_url_unescape_decodes_with_the_given_encoding() -> None:
    assert url_unescape("%E9t%E9", encoding="latin-1") == "été"
    assert url_unescape("%FF") == "\ufffd"


@pytest.mark.parametrize("text", ["", "a b", "/path/with spaces/", "é+ü&=?#%", "100%"])
@pytest.mark.parametrize("plus", [True, False])
def test_url_escape_round_trips_through_unescape(text: str, plus: bool) -> None:
    assert url_unescape(url_escape(text, plus=plus), plus=plus) == text


def test_parse_qs_bytes_keeps_invalid_utf8_bytes_and_repeats() -> None:
    parsed = parse_qs_bytes(b"a=1&a=%FF&b=caf%C3%A9&c=+x+")
    assert parsed == {"a": [b"1", b"\xff"], "b": [b"caf\xc3\xa9"], "c": [b" x "]}


def test_parse_qs_bytes_drops_blank_values_unless_kept() -> None:
    assert parse_qs_bytes("a=&b=1") == {"b": [b"1"]}
    assert parse_qs_bytes("a=&b=1", keep_blank_values=True) == {"a": [b""], "b": [b"1"]}


def test_parse_qs_bytes_names_are_latin1_readings_of_their_bytes() -> None:
    assert parse_qs_bytes("x%C3%A9=1") == {"x\u00c3\u00a9": [b"1"]}


def test_parse_qs_bytes_strict_parsing_rejects_pair_without_equals() -> None:
    assert parse_qs_bytes("a&b=1") == {"b": [b"1"]}
    with pytest.raises(ValueError):
        parse_qs_bytes("a&b=1", strict_parsing=True)


# ---------- squeeze / linkify ----------


def test_squeeze_collapses_whitespace_and_control_runs() -> None:
    assert squeeze("  a \t\n b\x00\x01c  ") == "a b c"
    assert squeeze("") == ""


def test_linkify_links_urls_and_escapes_the_rest() -> None:
    out = linkify("see http://example.com/a?b=1&c=2. <b>")
    assert out == (
        'see <a href="http://example.com/a?b=1&amp;c=2">http://example.com/a?b=1&amp;c=2</a>.'
        " &lt;b&gt;"
    )


def test_linkify_adds_http_to_www_urls_unless_protocol_required() -> None:
    assert linkify("go www.example.org now") == (
        'go <a href="http://www.example.org">www.example.org</a> now'
    )
    assert linkify("go www.example.org now", require_protocol=True) == "go www.example.org now"


def test_linkify_only_links_permitted_protocols() -> None:
    assert linkify("ftp://files.example.com/x") == "ftp://files.example.com/x"
    assert linkify("javascript://alert(1)") == "javascript://alert(1)"
    assert linkify("ftp://f.example.com/x", permitted_protocols=["ftp"]) == (
        '<a href="ftp://f.example.com/x">ftp://f.example.com/x</a>'
    )


def test_linkify_keeps_balanced_parentheses_and_stops_at_quotes() -> None:
    out = linkify('(http://en.wikipedia.org/wiki/Foo_(bar)) "http://q.example"')
    assert out == (
        '(<a href="http://en.wikipedia.org/wiki/Foo_(bar)">'
        "http://en.wikipedia.org/wiki/Foo_(bar)</a>) "
        '&quot;<a href="http://q.example">http://q.example</a>&quot;'
    )


def test_linkify_extra_params_string_or_callable() -> None:
    assert linkify("http://a.example", extra_params='rel="nofollow"') == (
        '<a href="http://a.example" rel="nofollow">http://a.example</a>'
    )
    seen: list[str] = []

    def params(href: str) -> str:
        seen.append(href)
        return 'class="ext"'

    assert linkify("www.b.example", extra_params=params) == (
        '<a href="http://www.b.example" class="ext">www.b.example</a>'
    )
    assert seen == ["http://www.b.example"]


def test_linkify_shorten_keeps_host_and_path_hint_and_sets_title() -> None:
    url = "http://example.com/articles.html/very/long/path/that/goes/on/and/on"
    out = linkify(url, shorten=True)
    assert out == f'<a href="{url}" title="{url}">http://example.com/articles...</a>'
    long_host = "http://averyveryveryverylonghostnameindeed.example.com/x"
    assert linkify(long_host, shorten=True).endswith('">http://averyveryveryverylongho...</a>')
    assert linkify("http://short.example", shorten=True) == (
        '<a href="http://short.example">http://short.example</a>'
    )


def test_linkify_shorten_never_cuts_an_escaped_entity() -> None:
    url = "http://example.com/?q=1&r=22222222222222222222222222222"
    out = linkify(url, shorten=True)
    shown = out.rsplit('">', 1)[1]
    assert shown == "http://example.com/...</a>"  # the path hint is empty: "?q" is cut
    text = linkify("http://" + "a" * 22 + "&b" + "c" * 30, shorten=True)  # "&" becomes "&amp;"
    assert text.endswith(">http://" + "a" * 22 + "...</a>")


@pytest.mark.parametrize(
    "value",
    [{"a": 1, "b": [1, 2.5, None, True]}, "x</y", [1, {"k": "\u00e9"}], 3, None, {1: "x"}],
)
def test_json_encode_matches_json_dumps_apart_from_the_script_escape(value: object) -> None:
    assert json_encode(value) == json.dumps(value).replace("</", "<\\/")


def test_json_encode_rejects_unserializable_objects_like_json_dumps() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_encode({"a": object()})


@given(st.lists(st.sampled_from(list(b"%aAfFgG0129+=\r\n \t&"))).map(bytes) | st.binary())
def test_unquote_to_bytes_matches_the_standard_library(data: bytes) -> None:
    assert escape._unquote_to_bytes(data) == urllib.parse.unquote_to_bytes(data)


def test_parse_qs_bytes_limits_and_strict_parsing() -> None:
    assert parse_qs_bytes(b"a=1&b=%41+%2B&a=2&&c&d=", keep_blank_values=True) == {
        "a": [b"1", b"2"],
        "b": [b"A +"],
        "c": [b""],
        "d": [b""],
    }
    assert parse_qs_bytes("%E9=%E9") == {"\xe9": [b"\xe9"]}
    assert parse_qs_bytes(b"c&d=") == {}
    with pytest.raises(ValueError, match="bad query field"):
        parse_qs_bytes(b"a=1&&b=2", strict_parsing=True)
    with pytest.raises(ValueError, match="Max number of fields"):
        parse_qs_bytes(b"a=1&b=2", max_num_fields=1)
    assert parse_qs_bytes(b"a=1&b=2", max_num_fields=2) == {"a": [b"1"], "b": [b"2"]}


@pytest.mark.parametrize("value", [b"%41" * 100_000, b"%" * 300_000, b"%4" * 150_000])
def test_parse_qs_bytes_memory_stays_a_small_multiple_of_the_input(value: bytes) -> None:
    data = b"a=" + value
    tracemalloc.start()
    try:
        parsed = parse_qs_bytes(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert parsed["a"] == [urllib.parse.unquote_to_bytes(value)]
    assert peak < 8 * len(data), f"{peak} bytes for {len(data)} of input"
