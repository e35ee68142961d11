"""Errors over real sockets: send_error and write_error (minimal HTML page, text traceback with
serve_traceback), HTTPError status/reason/log message, log_exception, errors after the
headers went out, and errors inside error handling."""

from __future__ import annotations

from typing import Any

from squall.testing import AsyncHTTPTestCase, ExpectLog, gen_test
from squall.web import Application, HTTPError, RequestHandler
from tests.helpers.raw_http import RawClient, request


def page(code: int, reason: str) -> bytes:
    return f"<html><title>{code}: {reason}</title><body>{code}: {reason}</body></html>".encode()


class ErrorsHandler(RequestHandler):
    def get(self, kind: str) -> None:
        self.set_header("X-Set-Before", "1")
        self.set_cookie("survivor", "yes")
        self.write("buffered before the error")
        if kind == "value":
            raise ValueError("plain failure")
        if kind == "http":
            raise HTTPError(409)
        if kind == "http-message":
            raise HTTPError(422, "bad %s for %s", "input", "user")
        if kind == "http-reason":
            raise HTTPError(410, reason="Long Gone")
        if kind == "http-unknown":
            raise HTTPError(599)
        if kind == "http-percent":
            raise HTTPError(400, "100% broken")
        if kind == "send-error":
            self.send_error(403)
            return
        if kind == "send-error-reason":
            self.send_error(400, reason="Bad Thing")
            return
        if kind == "send-error-default":
            self.send_error()
            return
        if kind == "send-304":
            self.send_error(304)
            return


class PrepareErrorHandler(RequestHandler):
    def prepare(self) -> None:
        raise HTTPError(401)

    def get(self) -> None:
        self.application.settings["calls"].append("get")


class CustomWriteErrorHandler(RequestHandler):
    def get(self) -> None:
        if self.get_argument("http", None):
            raise HTTPError(418, reason="Short And Stout")
        raise KeyError("the key")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        self.set_header("Content-Type", "text/plain")
        self.write(f"custom {status_code} {self._reason} {type(exc).__name__}")


class BrokenWriteErrorHandler(RequestHandler):
    def get(self) -> None:
        raise ValueError("first")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        raise RuntimeError("write_error itself failed")


class AfterFlushHandler(RequestHandler):
    async def get(self) -> None:
        self.write("partial ")
        await self.flush()
        raise ValueError("after flush")


class AfterFinishHandler(RequestHandler):
    def get(self) -> None:
        self.finish("complete")
        raise ValueError("after finish")


class LogExceptionHandler(RequestHandler):
    def get(self) -> None:
        raise ValueError("routed to my logger")

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        self.application.settings["logged"].append((typ, str(value), tb is not None))


class ErrorsTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(self.rules(), **self.settings())

    def rules(self) -> list[Any]:
        return [
            (r"/errors/([\w-]+)", ErrorsHandler),
            ("/prepare-error", PrepareErrorHandler),
            ("/custom", CustomWriteErrorHandler),
            ("/broken-write-error", BrokenWriteErrorHandler),
            ("/after-flush", AfterFlushHandler),
            ("/after-finish", AfterFinishHandler),
            ("/log-exception", LogExceptionHandler),
        ]

    def settings(self) -> dict[str, Any]:
        return {"calls": [], "logged": []}

    # -- the default error page ----------------------------------------------------------------

    def test_uncaught_exception_sends_the_minimal_500_page(self) -> None:
        with ExpectLog("squall.application", r"Uncaught exception GET /errors/value \(127"):
            response = self.fetch("/errors/value")
        assert response.code == 500
        assert response.body == page(500, "Internal Server Error")
        assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
        assert response.headers["Content-Length"] == str(len(response.body))

    def test_error_page_replaces_buffered_output_and_headers_but_keeps_cookies(self) -> None:
        with ExpectLog("squall.application", "Uncaught exception"):
            response = self.fetch("/errors/value")
        assert b"buffered before the error" not in response.body
        assert "X-Set-Before" not in response.headers
        assert response.headers["Set-Cookie"].startswith("survivor=yes")

    def test_http_error_sends_its_status_and_phrase(self) -> None:
        response = self.fetch("/errors/http")
        assert response.code == 409
        assert response.body == page(409, "Conflict")

    def test_http_error_reason_goes_on_the_status_line_and_page(self) -> None:
        response = self.fetch("/errors/http-reason")
        assert response.code == 410
        assert response.reason == "Long Gone"
        assert response.body == page(410, "Long Gone")

    def test_http_error_with_an_unknown_code_reads_unknown(self) -> None:
        response = self.fetch("/errors/http-unknown")
        assert response.code == 599
        assert response.reason == "Unknown"
        assert response.body == page(599, "Unknown")

    def test_http_error_log_message_is_formatted_with_args_as_a_warning(self) -> None:
        with ExpectLog(
            "squall.general", r"422 GET /errors/http-message \(127\.0\.0\.1\): bad input for user"
        ) as log:
            response = self.fetch("/errors/http-message")
        assert response.code == 422
        assert not log.logged_stack
        # The log message is for the log only, never for the client.
        assert b"bad input" not in response.body

    def test_http_error_percent_message_without_args_logs_cleanly(self) -> None:
        with ExpectLog("squall.general", r"400 GET /errors/http-percent .*: 100% broken$"):
            self.fetch("/errors/http-percent")

    def test_http_error_without_log_message_logs_nothing_on_general(self) -> None:
        with ExpectLog("squall.general", ".*", required=False) as log:
            self.fetch("/errors/http")
        assert not log.matched

    def test_http_error_in_prepare_skips_the_verb_method(self) -> None:
        response = self.fetch("/prepare-error")
        assert response.code == 401
        assert self._app.settings["calls"] == []

    # -- send_error ----------------------------------------------------------------------------

    def test_send_error_from_a_handler(self) -> None:
        response = self.fetch("/errors/send-error")
        assert response.code == 403
        assert response.body == page(403, "Forbidden")

    def test_send_error_reason_kwarg(self) -> None:
        response = self.fetch("/errors/send-error-reason")
        assert response.code == 400
        assert response.reason == "Bad Thing"
        assert response.body == page(400, "Bad Thing")

    def test_send_error_defaults_to_500(self) -> None:
        response = self.fetch("/errors/send-error-default")
        assert response.code == 500
        assert response.body == page(500, "Internal Server Error")

    def test_send_error_304_writes_no_body(self) -> None:
        response = self.fetch("/errors/send-304")
        assert response.code == 304
        assert response.body == b""

    def test_write_error_override_gets_status_and_exc_info(self) -> None:
        with ExpectLog("squall.application", "Uncaught exception GET /custom"):
            response = self.fetch("/custom")
        assert response.code == 500
        assert response.body == b"custom 500 Internal Server Error KeyError"
        response = self.fetch("/custom?http=1")
        assert response.code == 418
        assert response.body == b"custom 418 Short And Stout HTTPError"

    def test_failing_write_error_is_logged_and_the_response_still_finishes(self) -> None:
        with (
            ExpectLog("squall.application", "Uncaught exception GET /broken-write-error"),
            ExpectLog("squall.application", "Uncaught exception in write_error") as log,
        ):
            response = self.fetch("/broken-write-error")
        assert log.logged_stack
        assert response.code == 500

    def test_log_exception_override_receives_the_exception(self) -> None:
        response = self.fetch("/log-exception")
        assert response.code == 500
        assert self._app.settings["logged"] == [(ValueError, "routed to my logger", True)]

    # -- errors after output -------------------------------------------------------------------

    @gen_test
    async def test_error_after_flush_logs_and_ends_the_partial_response(self) -> None:
        client = await RawClient.connect(self.get_http_port())
        try:
            with (
                ExpectLog("squall.application", "Uncaught exception GET /after-flush"),
                ExpectLog("squall.general", "Cannot send error response after headers written"),
            ):
                await client.send(request("GET", "/after-flush"))
                response = await client.read_response()
        finally:
            await client.close()
        assert response.status == 200
        assert response.body == b"partial "

    def test_error_after_finish_is_logged_and_the_response_stands(self) -> None:
        with ExpectLog("squall.application", "Uncaught exception GET /after-finish"):
            response = self.fetch("/after-finish")
        assert response.code == 200
        assert response.body == b"complete"

    def test_unmatched_route_is_the_404_page(self) -> None:
        response = self.fetch("/no/such/page")
        assert response.code == 404
        assert response.body == page(404, "Not Found")


class ServeTracebackTest(ErrorsTest):
    """The same handlers with serve_traceback: a plain-text traceback for exceptions."""

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "serve_traceback": True}

    def test_uncaught_exception_sends_the_minimal_500_page(self) -> None:
        with ExpectLog("squall.application", "Uncaught exception"):
            response = self.fetch("/errors/value")
        assert response.code == 500
        assert response.headers["Content-Type"] == "text/plain"
        text = response.body.decode()
        assert text.startswith("Traceback (most recent call last):")
        assert "ValueError: plain failure" in text
        assert f'File "{__file__}"' in text

    def test_http_error_sends_its_status_and_phrase(self) -> None:
        response = self.fetch("/errors/http")
        assert response.code == 409
        assert b"HTTPError: HTTP 409: Conflict" in response.body

    def test_http_error_reason_goes_on_the_status_line_and_page(self) -> None:
        response = self.fetch("/errors/http-reason")
        assert response.reason == "Long Gone"
        assert b"HTTP 410: Long Gone" in response.body

    def test_http_error_with_an_unknown_code_reads_unknown(self) -> None:
        response = self.fetch("/errors/http-unknown")
        assert response.code == 599
        assert b"HTTP 599: Unknown" in response.body

    def test_http_error_log_message_is_formatted_with_args_as_a_warning(self) -> None:
        with ExpectLog("squall.general", r"422 GET /errors/http-message .*: bad input for user"):
            response = self.fetch("/errors/http-message")
        # The traceback shows the exception, message included (debugging only).
        assert b"HTTP 422: Unprocessable Entity (bad input for user)" in response.body

    def test_unmatched_route_is_the_404_page(self) -> None:
        # As in Tornado: ErrorHandler raises HTTPError(404), so the traceback is served.
        response = self.fetch("/no/such/page")
        assert response.code == 404
        assert b"HTTPError: HTTP 404: Not Found" in response.body

    def test_send_error_without_exception_still_sends_the_html_page(self) -> None:
        response = self.fetch("/errors/send-error")
        assert response.body == page(403, "Forbidden")


class DebugImpliesServeTracebackTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application([(r"/errors/([\w-]+)", ErrorsHandler)], debug=True, autoreload=False)

    def test_debug_serves_tracebacks(self) -> None:
        assert self._app.settings["serve_traceback"] is True
        with ExpectLog("squall.application", "Uncaught exception"):
            response = self.fetch("/errors/value")
        assert b"ValueError: plain failure" in response.body


class ExplicitServeTracebackWinsTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        return Application(
            [(r"/errors/([\w-]+)", ErrorsHandler)],
            debug=True,
            autoreload=False,
            serve_traceback=False,
        )

    def test_explicit_serve_traceback_false_wins_over_debug(self) -> None:
        with ExpectLog("squall.application", "Uncaught exception"):
            response = self.fetch("/errors/value")
        assert response.body == page(500, "Internal Server Error")
