"""Tests of the httputil contract: headers, start lines, the request object."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from squall.httputil import (
    DirectConnection,
    HTTPConnection,
    HTTPHeaders,
    HTTPInputError,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
    parse_request_start_line,
    parse_response_start_line,
)


@pytest.mark.parametrize(
    "write",
    [
        lambda h: h.__setitem__("X-A", "1"),
        lambda h: h.add("X-A", "1"),
        lambda h: h.setdefault("X-New", "1"),
        lambda h: h.update({"X-A": "1"}),
        lambda h: h.parse_line("X-A: 1"),
    ],
    ids=["setitem", "add", "setdefault", "update", "parse_line"],
)
def test_every_public_write_marks_headers_unchecked(write: Any) -> None:
    # The response-splitting check of the connection is skipped only for headers whose
    # owner validated every write (a RequestHandler); any other write turns it back on.
    h = HTTPHeaders({"Content-Type": "text/plain"})
    assert h._checked is False
    h._checked = True
    del h["Content-Type"]  # removing a field cannot inject anything
    assert h._checked is True
    assert h.copy()._checked is True
    write(h)
    assert h._checked is False


def test_headers_are_case_insensitive_and_normalized() -> None:
    h = HTTPHeaders({"content-TYPE": "text/html"})
    assert h["Content-Type"] == "text/html"
    assert "CONTENT-type" in h
    assert list(h) == ["Content-Type"]
    assert h.get("x-missing") is None
    assert h.get("x-missing", "d") == "d"


def test_repeated_fields_join_with_commas_and_list_separately() -> None:
    h = HTTPHeaders()
    h.add("Set-Cookie", "a=1")
    h.add("set-cookie", "b=2")
    assert h["Set-Cookie"] == "a=1,b=2"
    assert h.get_list("SET-COOKIE") == ["a=1", "b=2"]
    assert list(h.get_all()) == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    assert str(h) == "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n"


def test_setitem_replaces_all_values_and_delitem_removes() -> None:
    h = HTTPHeaders()
    h.add("X-A", "1")
    h.add("X-A", "2")
    h["x-a"] = "3"
    assert h.get_list("X-A") == ["3"]
    del h["X-A"]
    assert "X-A" not in h
    with pytest.raises(KeyError):
        h["X-A"]


def test_from_raw_matches_parse_of_same_block() -> None:
    from squall._http1.fields import headers_from_raw

    raw = [(b"host", b"example.com"), (b"Accept", b"a"), (b"ACCEPT", b"b"), (b"X-Bin", b"\xe9")]
    raw.append((b"accept", b"c"))
    h = headers_from_raw(raw)
    assert h["Host"] == "example.com"
    assert h.get_list("Accept") == ["a", "b", "c"]
    assert h["Accept"] == "a,b,c"
    assert h["X-Bin"] == "\xe9"  # latin-1, never a decode error
    parsed = HTTPHeaders.parse(
        "Host: example.com\r\nAccept: a\r\nAccept: b\r\nX-Bin: \xe9\r\nAccept: c\r\n"
    )
    assert parsed == h


def test_parse_refuses_obs_fold_and_missing_colon() -> None:
    with pytest.raises(HTTPInputError):
        HTTPHeaders.parse("A: b\r\n c\r\n")
    with pytest.raises(HTTPInputError):
        HTTPHeaders.parse("no colon here\r\n")


@pytest.mark.parametrize("code", [*range(0x09), *range(0x0A, 0x20), 0x7F])
def test_parse_and_add_refuse_control_characters_in_values(code: int) -> None:
    with pytest.raises(HTTPInputError):  # for LF: a second line without a colon
        HTTPHeaders.parse(f"Foo: bar{chr(code)}baz\r\n")
    with pytest.raises(HTTPInputError, match="Invalid header value"):
        HTTPHeaders().add("Foo", f"bar{chr(code)}baz")


def test_parse_keeps_tab_obs_text_and_unicode_line_breaks_in_values() -> None:
    for char in ("\t", "\x80", "\xa0", "\x85", "\u2028"):
        h = HTTPHeaders.parse(f"Foo: bar{char}baz\r\nX: y\n")
        assert list(h.get_all()) == [("Foo", f"bar{char}baz"), ("X", "y")]


def test_parse_refuses_a_bare_cr_line_end() -> None:
    with pytest.raises(HTTPInputError):
        HTTPHeaders.parse("A: a\r\nB: b\rC: c\r\n")
    with pytest.raises(HTTPInputError):
        HTTPHeaders.parse("A: a\r\r\n")


@pytest.mark.parametrize("name", ["", "foo bar", "foo\tbar", "foo\nbar", "foo\x00", " foo", "é"])
def test_add_refuses_a_name_that_is_not_a_token(name: str) -> None:
    with pytest.raises(HTTPInputError, match="Invalid header name"):
        HTTPHeaders().add(name, "bar")


def test_many_adds_of_one_name_stay_exact_through_every_reader() -> None:
    # Past a few values add() stops rebuilding the joined value (linear cost); every reader
    # must still see all of them.
    h = HTTPHeaders()
    values = [str(i) for i in range(50)]
    for value in values:
        h.add("X-N", value)
    joined = ",".join(values)
    assert h.get_list("X-N") == values
    assert h["x-n"] == joined
    assert h.get("X-N") == joined
    assert dict(h.items()) == {"X-N": joined}
    assert list(h.values()) == [joined]
    assert h == {"X-N": joined}
    assert h.copy()["X-N"] == joined
    h.add("X-N", "50")
    assert h.pop("X-N") == joined + ",50"
    assert "X-N" not in h and h.get_list("X-N") == []


def test_copy_deepcopy_and_pickle_keep_every_value() -> None:
    import pickle

    h = HTTPHeaders()
    for name, value in [("A", "1"), ("A", "2"), ("B", "c")]:
        h.add(name, value)
    for other in (h.copy(), copy.copy(h), copy.deepcopy(h), pickle.loads(pickle.dumps(h))):
        assert other is not h
        assert sorted(other.get_all()) == [("A", "1"), ("A", "2"), ("B", "c")]
        other.add("A", "3")
        assert h.get_list("A") == ["1", "2"]


def test_copy_is_independent() -> None:
    h = HTTPHeaders()
    h.add("A", "1")
    h.add("A", "2")
    c = copy.copy(h)
    c.add("A", "3")
    assert h.get_list("A") == ["1", "2"]
    assert c.get_list("A") == ["1", "2", "3"]
    assert h.copy() == h


def test_pop_update_setdefault_len() -> None:
    h = HTTPHeaders({"A": "1"})
    h.update({"b": "2"}, c="3")
    assert len(h) == 3
    assert h.pop("B") == "2"
    assert h.pop("B", None) is None
    assert h.setdefault("D", "4") == "4"
    assert h.setdefault("D", "5") == "4"


def test_start_line_parsers() -> None:
    assert parse_request_start_line("GET /a?b HTTP/1.1") == RequestStartLine(
        "GET", "/a?b", "HTTP/1.1"
    )
    assert parse_response_start_line("HTTP/1.1 404 Not Found") == ResponseStartLine(
        "HTTP/1.1", 404, "Not Found"
    )
    with pytest.raises(HTTPInputError):
        parse_request_start_line("GET /")
    with pytest.raises(HTTPInputError):
        parse_response_start_line("HTTP/1.1 2000 Nope")


def test_request_splits_uri_and_parses_query_lazily() -> None:
    req = HTTPServerRequest("GET", "/path?a=1&a=2&b=", headers=HTTPHeaders({"Host": "Ex.com:8080"}))
    assert req.path == "/path"
    assert req.query == "a=1&a=2&b="
    assert req.query_arguments == {"a": [b"1", b"2"], "b": [b""]}
    assert req.arguments == {"a": [b"1", b"2"], "b": [b""]}
    assert req.host == "Ex.com:8080"
    assert req.host_name == "ex.com"
    assert req.full_url() == "http://Ex.com:8080/path?a=1&a=2&b="


class _Context:
    remote_ip = "10.1.2.3"
    protocol = "https"


class _ForeignConnection(HTTPConnection):
    """A connection that is not squall's own: its context is read by name."""

    context = _Context()


class _DirectConnectionStub(DirectConnection):
    def peer(self) -> tuple[str | None, str]:
        return "10.9.9.9", "https"


@pytest.mark.parametrize(
    ("connection", "expected"),
    [
        (None, (None, "http")),
        (HTTPConnection(), (None, "http")),  # no context at all
        (_ForeignConnection(), ("10.1.2.3", "https")),
        (_DirectConnectionStub(), ("10.9.9.9", "https")),
    ],
    ids=["none", "no-context", "foreign", "direct"],
)
def test_request_takes_remote_ip_and_protocol_from_its_connection(
    connection: Any, expected: tuple[str | None, str]
) -> None:
    req = HTTPServerRequest("GET", "/", connection=connection)
    assert (req.remote_ip, req.protocol) == expected


def test_absolute_form_target_takes_its_authority_as_host() -> None:
    req = HTTPServerRequest(
        "GET", "http://other.example/x/y?q=1", headers=HTTPHeaders({"Host": "ignored"})
    )
    assert req.path == "/x/y"
    assert req.query == "q=1"
    assert req.uri == "/x/y?q=1"
    assert req.host == "other.example"


def test_request_cookies_skip_bad_ones() -> None:
    headers = HTTPHeaders({"Cookie": 'a=1; b="quoted"; bad name=3; c=x'})
    req = HTTPServerRequest("GET", "/", headers=headers)
    assert req.cookies["a"].value == "1"
    assert req.cookies["b"].value == "quoted"
    assert req.cookies["c"].value == "x"


def test_parse_body_merges_form_arguments() -> None:
    headers = HTTPHeaders({"Content-Type": "application/x-www-form-urlencoded"})
    req = HTTPServerRequest("POST", "/?a=q", headers=headers, body=b"a=b&c=d")
    req._parse_body()
    assert req.body_arguments == {"a": [b"b"], "c": [b"d"]}
    assert req.arguments == {"a": [b"q", b"b"], "c": [b"d"]}


def test_request_refuses_a_query_with_more_fields_than_the_urlencoded_limit() -> None:
    within = "/?" + "&".join(f"a={i}" for i in range(1000))
    assert len(HTTPServerRequest("GET", within).arguments["a"]) == 1000
    with pytest.raises(HTTPInputError, match="Max number of fields exceeded"):
        HTTPServerRequest("GET", within + "&a=x")


def test_request_time_grows_until_finish() -> None:
    req = HTTPServerRequest("GET", "/")
    assert req.request_time() >= 0
    assert "method='GET'" in repr(req)


def test_parse_line_drops_the_line_ending_and_ignores_the_blank_line() -> None:
    # What an HTTP client's header_callback passes, line by line, ends with CRLF; the last
    # line is the blank one that ends the block.
    headers = HTTPHeaders()
    for line in ("Content-Type: text/plain\r\n", "X-A: 1 \r\n", "X-B: 2\n", "\r\n", ""):
        headers.parse_line(line)
    assert list(headers.get_all()) == [("Content-Type", "text/plain"), ("X-A", "1"), ("X-B", "2")]
    with pytest.raises(HTTPInputError, match="obs-fold"):
        headers.parse_line(" folded\r\n")


def test_a_bytes_value_is_its_latin1_text() -> None:
    headers = HTTPHeaders()
    headers["User-Agent"] = b"MyUserAgent"
    headers["X-Raw"] = "caf\u00e9".encode()
    headers["X-Number"] = 5
    assert headers["User-Agent"] == "MyUserAgent"
    assert headers["X-Raw"].encode("latin-1") == "caf\u00e9".encode()  # same bytes on the wire
    assert headers["X-Number"] == "5"
