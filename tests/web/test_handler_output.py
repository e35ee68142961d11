"""RequestHandler output over real sockets: write, flush (chunked streaming), finish, automatic
ETags and 304s, Content-Length, bodiless statuses, set_status, headers (and the header-
injection guard), set_default_headers, clear and redirect."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
from typing import Any

from squall.testing import AsyncHTTPTestCase, ExpectLog, gen_test
from squall.web import Application, RequestHandler
from tests.helpers.raw_http import RawClient, parse_responses, request


def sha1_etag(body: bytes) -> str:
    return f'"{hashlib.sha1(body).hexdigest()}"'


class WriteHandler(RequestHandler):
    def get(self, kind: str) -> None:
        if kind == "str":
            self.write("héllo ")
            self.write("wörld")
        elif kind == "bytes":
            self.write(b"\x00\x01raw")
        elif kind == "dict":
            self.write({"a": 1, "b": ["x", None], "s": "</script>"})
        elif kind == "mixed":
            self.write("a")
            self.write(b"b")
        elif kind == "empty":
            pass


class BadWriteHandler(RequestHandler):
    def get(self, kind: str) -> None:
        value: Any = [1, 2] if kind == "list" else 42
        try:
            self.write(value)
        except TypeError as e:
            self.write(f"TypeError: {e}")


class FinishTwiceHandler(RequestHandler):
    def get(self) -> None:
        self.finish("once")
        try:
            self.finish()
        except RuntimeError as e:
            self.application.settings["outcome"] = str(e)


class WriteAfterFinishHandler(RequestHandler):
    def get(self) -> None:
        self.finish("done")
        try:
            self.write("more")
        except RuntimeError as e:
            self.application.settings["outcome"] = str(e)


class FinishReturnsAwaitableHandler(RequestHandler):
    async def get(self) -> None:
        result = self.finish("awaited")
        await result
        self.application.settings["outcome"] = "awaited finish"


class StreamingHandler(RequestHandler):
    """Flushes three pieces, waiting for the test between the first two."""

    async def get(self) -> None:
        gate: asyncio.Event = self.application.settings["gate"]
        self.set_header("X-Stream", "yes")
        self.write("first,")
        await self.flush()
        await gate.wait()
        self.write("second,")
        await self.flush()
        self.write("third")


class HeadFlushHandler(RequestHandler):
    async def get(self) -> None:
        self.write("streamed body")
        await self.flush()

    head = get


class FlushCallbackHandler(RequestHandler):
    async def get(self) -> None:
        done = asyncio.Event()
        self.write("x")
        self.flush(callback=done.set)
        await done.wait()
        self.write("y")


class EtagHandler(RequestHandler):
    def get(self) -> None:
        self.write("etag body")

    def post(self) -> None:
        self.write("etag body")

    head = get


class ExplicitEtagHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("Etag", '"mine"')
        self.write("whatever")


class NoEtagHandler(RequestHandler):
    def compute_etag(self) -> str | None:
        return None

    def get(self) -> None:
        self.write("no etag here")


class CustomEtagHandler(RequestHandler):
    def compute_etag(self) -> str | None:
        return '"v1"'

    def get(self) -> None:
        self.write("custom")


class ManualEtagHandler(RequestHandler):
    """Tornado's documented early-304 idiom, before producing an expensive body."""

    def compute_etag(self) -> str | None:
        return '"manual"'

    def get(self) -> None:
        self.set_etag_header()
        if self.check_etag_header():
            self.set_status(304)
            self.application.settings["outcome"] = "short-circuited"
            return
        self.write("expensive")


class NotFoundBodyHandler(RequestHandler):
    def get(self) -> None:
        self.set_status(404)
        self.write("custom missing")


class StatusHandler(RequestHandler):
    def get(self) -> None:
        code = int(self.get_argument("code"))
        raw = self.request.query_arguments.get("reason")  # unfiltered: control chars kept
        reason = raw[0].decode("latin-1") if raw else None
        self.set_status(code, reason)
        self.set_header("X-Status-Read", self.get_status())


class NoBodyStatusHandler(RequestHandler):
    def get(self, code: str) -> None:
        self.set_status(int(code))
        self.set_header("Content-Type", "text/plain")
        self.set_header("Content-Language", "en")
        self.set_header("Content-Encoding", "identity")
        self.set_header("X-Kept", "yes")


class BodyWith204Handler(RequestHandler):
    def get(self) -> None:
        self.set_status(204)
        self.write("not allowed")


class HeaderTypesHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("X-Str", "text")
        self.set_header("X-Bytes", b"caf\xe9")
        self.set_header("X-Int", 42)
        self.set_header("X-Date", datetime.datetime(2024, 1, 2, 3, 4, 5))
        aware = datetime.datetime(
            2024, 1, 2, 5, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        )
        self.set_header("X-Aware", aware)
        self.set_header("X-Replaced", "old")
        self.set_header("X-Replaced", "new")
        self.add_header("X-Multi", "one")
        self.add_header("X-Multi", 2)
        self.set_header("X-Cleared", "gone")
        self.clear_header("X-Cleared")
        self.clear_header("Content-Type")
        self.clear_header("X-Never-Set")
        try:
            self.set_header("X-Float", 1.5)
        except TypeError:
            self.set_header("X-Float-Refused", "yes")


class InjectionHandler(RequestHandler):
    def get(self, how: str) -> None:
        self.set_header("X-Before", "set before the attempt")
        if how == "set":
            self.set_header("X-Evil", "ok\r\nInjected: yes")
        elif how == "add":
            self.add_header("X-Evil", "ok\nInjected: yes")
        elif how == "bytes":
            self.set_header("X-Evil", b"ok\r\nInjected: yes")
        elif how == "control":
            self.set_header("X-Evil", "ok\x00Injected: yes")
        elif how == "name":
            self.set_header("X-Evil\r\nInjected", "yes")
        elif how == "add-name":
            self.add_header("X-Evil:\nInjected", "yes")
        elif how == "redirect":
            self.redirect("/somewhere\r\nInjected: yes")
        self.write("should not be sent")


_ANSWERED_500 = ("/unchecked/private-add", "/unchecked/etag")


class UncheckedInjectionHandler(RequestHandler):
    """Ways around set_header's check: the connection's own check must catch them (a
    compute_etag override goes through set_header, as in Tornado: refused there)."""

    def compute_etag(self) -> str | None:
        if self.path_args[0] == "etag":
            return '"abc"\r\nInjected: yes'
        return super().compute_etag()

    def get(self, how: str) -> None:
        if how == "private":
            self._headers["X-Evil"] = "ok\nInjected: yes"  # a private write: unchecked
        elif how == "private-add":
            self._headers.add("X-Evil", "ok\rInjected: yes")
        self.write("should not be sent")


class CatchInjectionHandler(RequestHandler):
    def get(self) -> None:
        errors = []
        for value in ("a\rb", "a\nb", "a\x00b", "a\x1fb", "a\x7fb", "snow\u2603"):
            try:
                self.set_header("X-Test", value)
            except ValueError as e:
                errors.append(str(e))
        self.set_header("X-Tab", "a\tb")
        self.set_header("X-Latin1", "caf\u00e9")
        self.write(
            {
                "refused": len(errors),
                "first": errors[0],
                "tab": self._headers["X-Tab"],
                "latin1": self._headers["X-Latin1"],
            }
        )


class DefaultHeadersHandler(RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header("X-Default", "always")
        self.set_header("Server", "custom-server")

    def get(self) -> None:
        if self.get_argument("fail", None):
            raise ValueError("fail")
        self.write("with defaults")


class ClearHandler(RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header("X-Default", "restored")

    def get(self) -> None:
        self.set_status(500)
        self.set_header("X-Default", "changed")
        self.set_header("X-Temp", "temp")
        self.write("discarded")
        self.clear()
        self.write("after clear")


class RedirectHandler_(RequestHandler):
    def get(self) -> None:
        kind = self.get_argument("kind")
        if kind == "default":
            self.redirect("/target")
        elif kind == "permanent":
            self.redirect("/target", permanent=True)
        elif kind == "status":
            self.redirect("/target", status=307)
        elif kind == "status-beats-permanent":
            self.redirect("/target", permanent=True, status=303)
        elif kind == "unicode":
            self.redirect("/caf\u00e9/\u2603")
        elif kind == "bad-status":
            try:
                self.redirect("/target", status=200)
            except ValueError as e:
                self.write(f"ValueError: {e}")
        elif kind == "after-flush":
            self.write("x")
            self.flush()
            try:
                self.redirect("/target")
            except RuntimeError as e:
                self.application.settings["outcome"] = str(e)


class OutputTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [
                (r"/write/(\w+)", WriteHandler),
                (r"/bad-write/(\w+)", BadWriteHandler),
                ("/finish-twice", FinishTwiceHandler),
                ("/write-after-finish", WriteAfterFinishHandler),
                ("/finish-awaitable", FinishReturnsAwaitableHandler),
                ("/stream", StreamingHandler),
                ("/head-flush", HeadFlushHandler),
                ("/flush-callback", FlushCallbackHandler),
                ("/etag", EtagHandler),
                ("/explicit-etag", ExplicitEtagHandler),
                ("/no-etag", NoEtagHandler),
                ("/custom-etag", CustomEtagHandler),
                ("/manual-etag", ManualEtagHandler),
                ("/not-found-body", NotFoundBodyHandler),
                ("/status", StatusHandler),
                (r"/nobody/(\d+)", NoBodyStatusHandler),
                ("/body-with-204", BodyWith204Handler),
                ("/header-types", HeaderTypesHandler),
                (r"/inject/([\w-]+)", InjectionHandler),
                (r"/unchecked/([\w-]+)", UncheckedInjectionHandler),
                ("/catch-injection", CatchInjectionHandler),
                ("/defaults", DefaultHeadersHandler),
                ("/clear", ClearHandler),
                ("/redirect", RedirectHandler_),
            ],
            gate=asyncio.Event(),
        )

    @property
    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = self._app.settings
        return settings

    # -- write ---------------------------------------------------------------------------------

    def test_write_str_is_utf8_html(self) -> None:
        response = self.fetch("/write/str")
        assert response.body == "héllo wörld".encode()
        assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
        assert response.headers["Content-Length"] == str(len("héllo wörld".encode()))

    def test_write_bytes_are_sent_as_they_are(self) -> None:
        assert self.fetch("/write/bytes").body == b"\x00\x01raw"

    def test_write_str_and_bytes_concatenate(self) -> None:
        assert self.fetch("/write/mixed").body == b"ab"

    def test_write_dict_is_json_with_json_content_type(self) -> None:
        response = self.fetch("/write/dict")
        assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
        assert json.loads(response.body) == {"a": 1, "b": ["x", None], "s": "</script>"}
        assert b"</" not in response.body  # escaped, so JSON can be embedded in HTML

    def test_empty_response_has_zero_content_length(self) -> None:
        response = self.fetch("/write/empty")
        assert response.code == 200
        assert response.body == b""
        assert response.headers["Content-Length"] == "0"

    def test_write_list_raises_type_error(self) -> None:
        body = self.fetch("/bad-write/list").body
        assert body.startswith(b"TypeError: write() only accepts bytes, unicode, and dict")
        assert b"Lists not accepted for security reasons" in body

    def test_write_other_types_raise_type_error(self) -> None:
        body = self.fetch("/bad-write/int").body
        assert body == b"TypeError: write() only accepts bytes, unicode, and dict objects"

    # -- finish --------------------------------------------------------------------------------

    def test_finish_twice_raises_runtime_error(self) -> None:
        response = self.fetch("/finish-twice")
        assert response.body == b"once"
        assert self.settings["outcome"] == "finish() called twice"

    def test_write_after_finish_raises_runtime_error(self) -> None:
        response = self.fetch("/write-after-finish")
        assert response.body == b"done"
        assert self.settings["outcome"] == "Cannot write() after finish()"

    def test_finish_returns_an_awaitable(self) -> None:
        assert self.fetch("/finish-awaitable").body == b"awaited"
        assert self.settings["outcome"] == "awaited finish"

    # -- flush ---------------------------------------------------------------------------------

    @gen_test
    async def test_flush_sends_headers_first_and_the_body_arrives_chunked(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            await client.send(request("GET", "/stream"))
            head = await client.reader.readuntil(b"\r\n\r\n")
            # The handler is now blocked on the gate: the head came from the first flush.
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"X-Stream: yes\r\n" in head
            assert b"Transfer-Encoding: chunked\r\n" in head
            assert b"Content-Length" not in head
            client._buf = head
            self.settings["gate"].set()
            response = await client.read_response()
        finally:
            await client.close()
        assert response.chunked
        assert response.body == b"first,second,third"

    @gen_test
    async def test_head_response_drops_a_flushed_body(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            await client.send(request("HEAD", "/head-flush") + request("GET", "/write/str"))
            head = await client.read_response(head_request=True)
            following = await client.read_response()
        finally:
            await client.close()
        assert head.status == 200
        assert head.body == b""
        # Nothing stray followed the HEAD response: the next response parses cleanly.
        assert following.body == "héllo wörld".encode()

    def test_flush_callback_is_called(self) -> None:
        assert self.fetch("/flush-callback").body == b"xy"

    # -- ETags ---------------------------------------------------------------------------------

    def test_get_200_gets_an_sha1_etag(self) -> None:
        response = self.fetch("/etag")
        assert response.headers["Etag"] == sha1_etag(b"etag body")

    def test_head_gets_the_same_etag_and_length_without_body(self) -> None:
        response = self.fetch("/etag", method="HEAD")
        assert response.headers["Etag"] == sha1_etag(b"etag body")
        assert response.headers["Content-Length"] == str(len(b"etag body"))
        assert response.body == b""

    def test_matching_if_none_match_gives_304_without_body(self) -> None:
        etag = sha1_etag(b"etag body")
        response = self.fetch("/etag", headers={"If-None-Match": etag})
        assert response.code == 304
        assert response.body == b""
        assert response.headers["Etag"] == etag
        assert "Content-Type" not in response.headers
        assert "Content-Length" not in response.headers

    def test_if_none_match_on_head_gives_304(self) -> None:
        etag = sha1_etag(b"etag body")
        response = self.fetch("/etag", method="HEAD", headers={"If-None-Match": etag})
        assert response.code == 304

    def test_weak_list_and_star_if_none_match_values_match(self) -> None:
        etag = sha1_etag(b"etag body")
        for value in (f"W/{etag}", f'"other", {etag}', f'W/"x",W/{etag}', "*"):
            response = self.fetch("/etag", headers={"If-None-Match": value})
            assert response.code == 304, value

    def test_non_matching_if_none_match_gives_200(self) -> None:
        for value in ('"nope"', 'W/"nope", "other"', "garbage"):
            response = self.fetch("/etag", headers={"If-None-Match": value})
            assert response.code == 200, value
            assert response.body == b"etag body"

    def test_post_gets_no_etag_and_never_304(self) -> None:
        etag = sha1_etag(b"etag body")
        response = self.fetch("/etag", method="POST", body="", headers={"If-None-Match": etag})
        assert response.code == 200
        assert "Etag" not in response.headers

    def test_non_200_gets_no_etag(self) -> None:
        response = self.fetch("/not-found-body", headers={"If-None-Match": "*"})
        assert response.code == 404
        assert response.body == b"custom missing"
        assert "Etag" not in response.headers

    def test_explicit_etag_is_kept(self) -> None:
        response = self.fetch("/explicit-etag")
        assert response.headers["Etag"] == '"mine"'
        # An explicit Etag opts out of the automatic 304 as well.
        assert self.fetch("/explicit-etag", headers={"If-None-Match": '"mine"'}).code == 200

    def test_compute_etag_none_sends_no_etag(self) -> None:
        response = self.fetch("/no-etag", headers={"If-None-Match": "*"})
        assert response.code == 200
        assert "Etag" not in response.headers

    def test_compute_etag_override_is_used_for_header_and_304(self) -> None:
        assert self.fetch("/custom-etag").headers["Etag"] == '"v1"'
        assert self.fetch("/custom-etag", headers={"If-None-Match": '"v1"'}).code == 304

    def test_set_etag_header_and_check_etag_header_allow_an_early_304(self) -> None:
        response = self.fetch("/manual-etag", headers={"If-None-Match": '"manual"'})
        assert response.code == 304
        assert response.headers["Etag"] == '"manual"'
        assert self.settings["outcome"] == "short-circuited"
        response = self.fetch("/manual-etag")
        assert response.code == 200
        assert response.body == b"expensive"

    # -- status --------------------------------------------------------------------------------

    @gen_test
    async def test_set_status_reason_goes_on_the_status_line(self) -> None:
        cases = [
            ("code=201", b"HTTP/1.1 201 Created\r\n"),
            ("code=299&reason=Fine+Thanks", b"HTTP/1.1 299 Fine Thanks\r\n"),
            ("code=299", b"HTTP/1.1 299 Unknown\r\n"),
            ("code=200&reason=%3Cb%3E", b"HTTP/1.1 200 Unknown\r\n"),
            ("code=200&reason=bad%00reason", b"HTTP/1.1 200 Unknown\r\n"),
            ("code=200&reason=bad%7Freason", b"HTTP/1.1 200 Unknown\r\n"),
            ("code=200&reason=Tab%09OK", b"HTTP/1.1 200 Tab\tOK\r\n"),
        ]
        for query, status_line in cases:
            client = await RawClient.connect(self.get_http_port())
            try:
                await client.send(request("GET", f"/status?{query}"))
                response = await client.read_response()
            finally:
                await client.close()
            assert response.raw.startswith(status_line), (query, response.raw[:60])
            assert response.header("X-Status-Read") == query.split("&")[0][5:]

    def test_204_and_304_strip_representation_headers(self) -> None:
        for code in (204, 304):
            response = self.fetch(f"/nobody/{code}")
            assert response.code == code
            assert response.body == b""
            for name in ("Content-Type", "Content-Language", "Content-Encoding", "Content-Length"):
                assert name not in response.headers, (code, name)
            assert response.headers["X-Kept"] == "yes"

    def test_body_with_204_is_a_500(self) -> None:
        with ExpectLog("squall.application", "Uncaught exception GET /body-with-204"):
            response = self.fetch("/body-with-204")
        assert response.code == 500

    # -- headers -------------------------------------------------------------------------------

    def test_header_values_of_every_supported_type(self) -> None:
        response = self.fetch("/header-types")
        h = response.headers
        assert h["X-Str"] == "text"
        assert h["X-Bytes"] == "café"
        assert h["X-Int"] == "42"
        assert h["X-Date"] == "Tue, 02 Jan 2024 03:04:05 GMT"
        assert h["X-Aware"] == "Tue, 02 Jan 2024 03:04:05 GMT"
        assert h["X-Replaced"] == "new"
        assert h.get_list("X-Multi") == ["one", "2"]
        assert "X-Cleared" not in h
        assert "Content-Type" not in h
        assert "X-Float" not in h
        assert h["X-Float-Refused"] == "yes"

    def test_control_characters_in_header_values_raise_value_error(self) -> None:
        got = json.loads(self.fetch("/catch-injection").body)
        assert got["refused"] == 6
        assert "control characters" in got["first"]
        assert got["tab"] == "a\tb"
        assert got["latin1"] == "caf\u00e9"

    async def _attempt(self, path: str) -> bytes:
        """GET ``path`` on a raw connection, expecting the handler's error to be logged; return
        every byte the server sent until it closed or answered."""
        client = await RawClient.connect(self.get_http_port())
        try:
            with ExpectLog("squall.application", f"Uncaught exception GET {path}"):
                await client.send(request("GET", path))
                if path.startswith("/inject/") or path in _ANSWERED_500:
                    return (await client.read_response()).raw
                return await client.read_until_eof()
        finally:
            await client.close()

    @gen_test
    async def test_header_injection_attempts_get_500_and_nothing_injected(self) -> None:
        for how in ("set", "add", "bytes", "control", "name", "add-name", "redirect"):
            raw = await self._attempt(f"/inject/{how}")
            response = parse_responses(raw)[0]
            assert response.status == 500, how
            assert b"Injected" not in raw, how
            assert b"should not be sent" not in raw, how
            # The error page starts from clear(): headers set before the failure are gone.
            assert response.header("X-Before") is None, how

    @gen_test
    async def test_header_written_around_set_header_is_still_refused_by_the_connection(
        self,
    ) -> None:
        # A private write to self._headers skips set_header's validation; the connection
        # checks such headers itself and sends nothing of them.
        raw = await self._attempt("/unchecked/private")
        assert b"Injected" not in raw
        assert b"should not be sent" not in raw
        # HTTPHeaders.add refuses a control character itself (HTTPInputError), and the ETag
        # of a compute_etag override goes through set_header: an error page for both.
        for how in ("private-add", "etag"):
            raw = await self._attempt(f"/unchecked/{how}")
            assert parse_responses(raw)[0].status == 500, how
            assert b"Injected" not in raw, how
            assert b"should not be sent" not in raw, how

    def test_set_default_headers_apply_to_every_response_and_error_pages(self) -> None:
        response = self.fetch("/defaults")
        assert response.headers["X-Default"] == "always"
        assert response.headers["Server"] == "custom-server"
        with ExpectLog("squall.application", "Uncaught exception GET /defaults"):
            response = self.fetch("/defaults?fail=1")
        assert response.code == 500
        assert response.headers["X-Default"] == "always"

    def test_default_headers_include_server_and_html_content_type(self) -> None:
        response = self.fetch("/write/str")
        assert response.headers["Server"].startswith("squall/")
        assert response.headers["Content-Type"] == "text/html; charset=UTF-8"

    def test_clear_resets_status_headers_and_body(self) -> None:
        response = self.fetch("/clear")
        assert response.code == 200
        assert response.body == b"after clear"
        assert response.headers["X-Default"] == "restored"
        assert "X-Temp" not in response.headers

    # -- redirect ------------------------------------------------------------------------------

    def test_redirect_statuses(self) -> None:
        expected = {
            "default": 302,
            "permanent": 301,
            "status": 307,
            "status-beats-permanent": 303,
        }
        for kind, code in expected.items():
            response = self.fetch(f"/redirect?kind={kind}", follow_redirects=False)
            assert response.code == code, kind
            assert response.headers["Location"] == "/target"
            assert response.body == b""

    @gen_test
    async def test_redirect_to_a_non_ascii_url_sends_it_as_utf8(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            await client.send(request("GET", "/redirect?kind=unicode"))
            response = await client.read_response()
        finally:
            await client.close()
        assert response.status == 302
        assert b"\r\nLocation: /caf\xc3\xa9/\xe2\x98\x83\r\n" in response.raw

    def test_redirect_with_a_non_3xx_status_raises_value_error(self) -> None:
        response = self.fetch("/redirect?kind=bad-status", follow_redirects=False)
        assert response.code == 200
        assert response.body.startswith(b"ValueError: ")
        assert "Location" not in response.headers

    def test_redirect_after_flush_raises_runtime_error(self) -> None:
        response = self.fetch("/redirect?kind=after-flush", follow_redirects=False)
        assert response.code == 200
        assert response.body == b"x"
        assert "Cannot redirect after headers have been written" in self.settings["outcome"]


class _NoServerHeader(RequestHandler):
    def get(self) -> None:
        self.clear_header("Server")
        self.write("anonymous")


class ClearServerHeaderTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application([("/", _NoServerHeader)])

    def test_clearing_server_header_sends_none(self) -> None:
        response = self.fetch("/")
        assert response.body == b"anonymous"
        assert "Server" not in response.headers
