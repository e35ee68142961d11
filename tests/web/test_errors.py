"""Tests for squall._web.errors: HTTPError, Finish, MissingArgumentError."""

from __future__ import annotations

import pytest

from squall._web.errors import Finish, HTTPError, MissingArgumentError


def test_http_error_defaults_to_500_with_standard_reason_in_str() -> None:
    err = HTTPError()
    assert err.status_code == 500
    assert err.log_message is None
    assert err.reason is None
    assert err.args == ()
    assert str(err) == "HTTP 500: Internal Server Error"


def test_http_error_str_formats_log_message_with_args() -> None:
    err = HTTPError(404, "no user %s in %s", "bob", "db")
    assert str(err) == "HTTP 404: Not Found (no user bob in db)"
    assert err.args == ("bob", "db")
    assert err.get_message() == "no user bob in db"


def test_http_error_reason_overrides_status_phrase() -> None:
    err = HTTPError(499, reason="Client Went Away")
    assert str(err) == "HTTP 499: Client Went Away"
    assert err.reason == "Client Went Away"


def test_http_error_unknown_status_reads_unknown() -> None:
    assert str(HTTPError(599)) == "HTTP 599: Unknown"


def test_http_error_percent_in_message_without_args_is_doubled_but_str_is_clean() -> None:
    err = HTTPError(400, "100% wrong")
    # Doubling keeps `log_message % args` safe for loggers that format it later.
    assert err.log_message == "100%% wrong"
    assert err.log_message % err.args == "100% wrong"
    assert err.get_message() == "100% wrong"
    assert str(err) == "HTTP 400: Bad Request (100% wrong)"


def test_http_error_bad_format_args_keep_raw_message_instead_of_raising() -> None:
    err = HTTPError(400, "needs %d", "not-a-number")
    assert err.get_message() == "needs %d"
    assert str(err) == "HTTP 400: Bad Request (needs %d)"


def test_http_error_repr_shows_constructor_arguments() -> None:
    assert repr(HTTPError(404)) == "HTTPError(404)"
    assert repr(HTTPError(403, "nope %s", "x", reason="Go Away")) == (
        "HTTPError(403, 'nope %s', 'x', reason='Go Away')"
    )
    assert repr(HTTPError(400, "50% off")) == "HTTPError(400, '50% off')"


def test_http_error_is_raisable_and_catchable_as_exception() -> None:
    with pytest.raises(HTTPError) as info:
        raise HTTPError(418)
    assert info.value.status_code == 418
    assert str(info.value) == "HTTP 418: I'm a Teapot"


def test_missing_argument_error_is_a_400_naming_the_argument() -> None:
    err = MissingArgumentError("page")
    assert isinstance(err, HTTPError)
    assert err.status_code == 400
    assert err.arg_name == "page"
    assert err.log_message == "Missing argument page"
    assert str(err) == "HTTP 400: Bad Request (Missing argument page)"
    assert repr(err) == "MissingArgumentError('page')"


def test_finish_carries_its_args_for_the_handler_to_pass_to_finish() -> None:
    err = Finish("last chunk")
    assert err.args == ("last chunk",)
    assert not isinstance(err, HTTPError)
    assert Finish().args == ()
