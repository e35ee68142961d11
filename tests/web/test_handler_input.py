"""RequestHandler input over real sockets: get_argument(s) and the query/body variants,
decode_argument, path_args/path_kwargs, request.files, and malformed bodies."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

from squall.testing import AsyncHTTPTestCase, ExpectLog
from squall.web import Application, MissingArgumentError, RequestHandler

BOUNDARY = "squallboundary"


def multipart(*parts: tuple[str, str | None, str | None, bytes]) -> bytes:
    """A multipart/form-data body from (name, filename, content type, data) parts."""
    out = b""
    for name, filename, ctype, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
        if ctype is not None:
            head += f"Content-Type: {ctype}\r\n"
        out += head.encode() + b"\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


MULTIPART_HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


class ArgsHandler(RequestHandler):
    """Echoes, as JSON, what the argument accessors return for the ``name`` given in the query
    string's ``which`` argument."""

    def _report(self) -> None:
        name = self.get_query_argument("which")
        strip = self.get_query_argument("strip", "1") == "1"
        self.write(
            {
                "argument": self.get_argument(name, None, strip=strip),
                "arguments": self.get_arguments(name, strip=strip),
                "query_argument": self.get_query_argument(name, None, strip=strip),
                "query_arguments": self.get_query_arguments(name, strip=strip),
                "body_argument": self.get_body_argument(name, None, strip=strip),
                "body_arguments": self.get_body_arguments(name, strip=strip),
            }
        )

    get = post = put = _report


class RequiredHandler(RequestHandler):
    def get(self) -> None:
        self.write(self.get_argument("needed"))

    def post(self) -> None:
        self.write(self.get_body_argument("needed"))

    def put(self) -> None:
        self.write(self.get_query_argument("needed"))


class CatchMissingHandler(RequestHandler):
    def get(self) -> None:
        try:
            self.get_argument("absent")
        except MissingArgumentError as e:
            self.write(f"{e.status_code} {e.arg_name} {e.log_message}")


class DefaultsHandler(RequestHandler):
    def get(self) -> None:
        self.write(
            {
                "default": self.get_argument("x", "fallback"),
                "none": self.get_argument("x", None),
                "empty_list": self.get_arguments("x"),
                "query_default": self.get_query_argument("x", "q"),
                "body_default": self.get_body_argument("x", "b"),
            }
        )


class Latin1Handler(RequestHandler):
    """Overrides decode_argument: query values decoded as latin-1 and upper-cased."""

    def decode_argument(self, value: bytes, name: str | None = None) -> Any:
        self.decoded = getattr(self, "decoded", [])
        self.decoded.append(name)
        return value.decode("latin-1").upper()

    def get(self, *args: Any) -> None:
        self.write({"value": self.get_argument("v"), "names": self.decoded, "args": list(args)})


class PathArgsHandler(RequestHandler):
    def prepare(self) -> None:
        self.in_prepare = (list(self.path_args), dict(self.path_kwargs))

    def get(self, *args: str, **kwargs: str) -> None:
        self.write(
            {
                "args": list(args),
                "kwargs": kwargs,
                "path_args": list(self.path_args),
                "path_kwargs": dict(self.path_kwargs),
                "in_prepare": list(self.in_prepare),
            }
        )


class FilesHandler(RequestHandler):
    def post(self) -> None:
        files = {
            name: [
                {"filename": f.filename, "body": f.body.decode(), "content_type": f.content_type}
                for f in infos
            ]
            for name, infos in self.request.files.items()
        }
        self.write({"files": files, "field": self.get_body_argument("field", None)})


class RecordingPostHandler(RequestHandler):
    called: list[str]

    def initialize(self, called: list[str]) -> None:  # type: ignore[override]
        self.called = called

    def post(self) -> None:
        self.called.append("post")
        self.write("handler wrote this")


class InputTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        self.called: list[str] = []
        return Application(
            [
                ("/args", ArgsHandler),
                ("/required", RequiredHandler),
                ("/catch", CatchMissingHandler),
                ("/defaults", DefaultsHandler),
                (r"/latin1/(.*)", Latin1Handler),
                (r"/pos/([^/]+)/([^/]+)", PathArgsHandler),
                (r"/named/(?P<first>[^/]+)/(?P<second>[^/]*)", PathArgsHandler),
                (r"/optional/(\d+)?", PathArgsHandler),
                ("/files", FilesHandler),
                ("/record", RecordingPostHandler, {"called": self.called}),
            ]
        )

    def report(self, which: str, query: str = "", **kwargs: Any) -> dict[str, Any]:
        extra = f"&{query}" if query else ""
        response = self.fetch(f"/args?which={which}{extra}", **kwargs)
        assert response.code == 200, response.body
        result: dict[str, Any] = json.loads(response.body)
        return result

    # -- query and body arguments --------------------------------------------------------------

    def test_get_argument_returns_the_last_value_and_get_arguments_all(self) -> None:
        got = self.report("a", "a=1&a=2&a=3")
        assert got["argument"] == "3"
        assert got["arguments"] == ["1", "2", "3"]
        assert got["query_argument"] == "3"
        assert got["query_arguments"] == ["1", "2", "3"]
        assert got["body_argument"] is None
        assert got["body_arguments"] == []

    def test_body_values_come_after_query_values(self) -> None:
        got = self.report("a", "a=q", method="POST", body="a=b1&a=b2", headers=FORM_HEADERS)
        assert got["arguments"] == ["q", "b1", "b2"]
        assert got["argument"] == "b2"
        assert got["query_argument"] == "q"
        assert got["query_arguments"] == ["q"]
        assert got["body_argument"] == "b2"
        assert got["body_arguments"] == ["b1", "b2"]

    def test_multipart_fields_are_body_arguments(self) -> None:
        body = multipart(("a", None, None, b"m1"), ("a", None, None, b" m2 "))
        got = self.report("a", method="POST", body=body, headers=MULTIPART_HEADERS)
        assert got["body_arguments"] == ["m1", "m2"]
        assert got["argument"] == "m2"

    def test_put_bodies_are_parsed_too(self) -> None:
        got = self.report("a", method="PUT", body="a=put", headers=FORM_HEADERS)
        assert got["body_argument"] == "put"

    def test_a_form_body_on_get_is_parsed_as_tornado_does(self) -> None:
        got = self.report(
            "a", method="GET", body="a=in-get", headers=FORM_HEADERS, allow_nonstandard_methods=True
        )
        assert got["body_argument"] == "in-get"

    def test_values_are_stripped_unless_strip_is_false(self) -> None:
        query = urlencode({"a": "  padded\t"})
        assert self.report("a", query)["argument"] == "padded"
        got = self.report("a", query + "&strip=0")
        assert got["argument"] == "  padded\t"
        assert got["arguments"] == ["  padded\t"]
        assert got["query_argument"] == "  padded\t"

    def test_control_characters_become_spaces_but_whitespace_controls_stay(self) -> None:
        query = urlencode({"a": "x\x00y\x08z\x1fw\tv\nu\x0bt\x0cs\rr\x7f"}) + "&strip=0"
        got = self.report("a", query)
        assert got["argument"] == "x y z w\tv\nu\x0bt\x0cs\rr\x7f"
        assert got["query_arguments"] == [got["argument"]]

    def test_control_characters_in_body_arguments_become_spaces(self) -> None:
        got = self.report("a", method="POST", body=urlencode({"a": "p\x01q"}), headers=FORM_HEADERS)
        assert got["body_argument"] == "p q"
        assert got["body_arguments"] == ["p q"]

    def test_utf8_values_are_decoded(self) -> None:
        got = self.report("a", urlencode({"a": "héllo ☃"}))
        assert got["argument"] == "héllo ☃"

    def test_plus_in_the_query_is_a_space(self) -> None:
        assert self.report("a", "a=one+two")["argument"] == "one two"

    def test_blank_values_are_kept(self) -> None:
        got = self.report("a", "a=&a=x")
        assert got["arguments"] == ["", "x"]

    def test_bad_utf8_in_an_argument_is_400(self) -> None:
        with ExpectLog("squall.general", r"400 GET /args.*Invalid unicode in a"):
            response = self.fetch("/args?which=a&a=%ff%fe")
        assert response.code == 400

    # -- missing arguments ---------------------------------------------------------------------

    def test_missing_required_argument_is_400_from_every_source(self) -> None:
        with ExpectLog("squall.general", r"400 GET /required .*Missing argument needed"):
            response = self.fetch("/required")
        assert response.code == 400
        assert b"400: Bad Request" in response.body
        with ExpectLog("squall.general", r"400 POST /required\?needed=1 .*Missing argument"):
            # In the query string but not the body: get_body_argument still misses it.
            response = self.fetch(
                "/required?needed=1", method="POST", body="other=1", headers=FORM_HEADERS
            )
        assert response.code == 400
        with ExpectLog("squall.general", r"400 PUT /required .*Missing argument needed"):
            response = self.fetch("/required", method="PUT", body="needed=1", headers=FORM_HEADERS)
        assert response.code == 400

    def test_present_required_argument_is_returned(self) -> None:
        assert self.fetch("/required?needed=yes").body == b"yes"

    def test_missing_argument_error_names_the_argument(self) -> None:
        assert self.fetch("/catch").body == b"400 absent Missing argument absent"

    def test_defaults_are_returned_when_absent(self) -> None:
        got = json.loads(self.fetch("/defaults").body)
        assert got == {
            "default": "fallback",
            "none": None,
            "empty_list": [],
            "query_default": "q",
            "body_default": "b",
        }

    # -- decode_argument -----------------------------------------------------------------------

    def test_decode_argument_override_decodes_arguments_and_path_args(self) -> None:
        # Like Tornado: the override sees the percent-decoded bytes of the path group.
        got = json.loads(self.fetch("/latin1/caf%C3%A9?v=%E9t%E9").body)
        assert got["value"] == "ÉTÉ"
        assert got["args"] == ["CAFÃ©"]
        assert got["names"] == [None, "v"]

    # -- path arguments ------------------------------------------------------------------------

    def test_positional_groups_become_path_args(self) -> None:
        got = json.loads(self.fetch("/pos/one/two").body)
        assert got["args"] == ["one", "two"]
        assert got["path_args"] == ["one", "two"]
        assert got["kwargs"] == {}
        assert got["in_prepare"] == [["one", "two"], {}]

    def test_named_groups_become_path_kwargs(self) -> None:
        got = json.loads(self.fetch("/named/a/b").body)
        assert got["kwargs"] == {"first": "a", "second": "b"}
        assert got["path_kwargs"] == {"first": "a", "second": "b"}
        assert got["args"] == []
        assert got["in_prepare"] == [[], {"first": "a", "second": "b"}]

    def test_path_args_are_percent_decoded_but_plus_stays(self) -> None:
        got = json.loads(self.fetch("/pos/a%20b%2Fc/x+y").body)
        assert got["args"] == ["a b/c", "x+y"]

    def test_path_args_are_utf8_decoded(self) -> None:
        got = json.loads(self.fetch("/pos/%E2%98%83/caf%C3%A9").body)
        assert got["args"] == ["☃", "café"]

    def test_bad_utf8_in_a_path_argument_is_400(self) -> None:
        with ExpectLog("squall", ".*", required=False):
            response = self.fetch("/pos/%ff/x")
        assert response.code == 400

    def test_unmatched_optional_group_is_none(self) -> None:
        got = json.loads(self.fetch("/optional/").body)
        assert got["args"] == [None]
        assert json.loads(self.fetch("/optional/42").body)["args"] == ["42"]

    # -- files ---------------------------------------------------------------------------------

    def test_multipart_files_are_in_request_files(self) -> None:
        body = multipart(
            ("upload", "a.txt", "text/plain", b"first file"),
            ("upload", "b.bin", None, b"second"),
            ("field", None, None, b"plain value"),
        )
        response = self.fetch("/files", method="POST", body=body, headers=MULTIPART_HEADERS)
        got = json.loads(response.body)
        assert got["files"] == {
            "upload": [
                {"filename": "a.txt", "body": "first file", "content_type": "text/plain"},
                {
                    "filename": "b.bin",
                    "body": "second",
                    "content_type": "application/unknown",
                },
            ]
        }
        assert got["field"] == "plain value"

    # -- malformed bodies ----------------------------------------------------------------------

    def test_malformed_multipart_is_400_and_the_handler_writes_nothing(self) -> None:
        # Truncated: the final boundary never comes.
        bad = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue\r\n'
        malformed = "Malformed request body from 127.0.0.1: Invalid multipart"
        with ExpectLog("squall.general", malformed, level=logging.INFO):
            response = self.fetch(
                "/record", method="POST", body=bad.encode(), headers=MULTIPART_HEADERS
            )
        assert response.code == 400
        assert self.called == []
        assert b"handler wrote this" not in response.body

    def test_multipart_without_a_boundary_is_400(self) -> None:
        with ExpectLog("squall", ".*", required=False):
            response = self.fetch(
                "/record",
                method="POST",
                body=b"whatever",
                headers={"Content-Type": "multipart/form-data"},
            )
        assert response.code == 400
        assert self.called == []

    def test_unknown_content_type_body_is_left_alone(self) -> None:
        response = self.fetch(
            "/record", method="POST", body=b"\x00\xff", headers={"Content-Type": "x/y"}
        )
        assert response.code == 200
        assert self.called == ["post"]
