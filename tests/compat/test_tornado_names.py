"""Names and behaviours that Tornado-based projects rely on, found by running their suites.

Each test names the pattern it stands for; none is special-cased for one project.
"""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

from squall import log, web
from squall.httpserver import HTTPServer
from squall.httputil import HTTPHeaders, HTTPServerRequest
from squall.netutil import bind_sockets


def test_http_server_sockets_map_descriptors_to_listening_sockets() -> None:
    # Test helpers find the port a server listens on through Tornado's TCPServer._sockets.
    async def body() -> tuple[dict[int, int], int, set[int]]:
        server = HTTPServer(web.Application())
        sockets = bind_sockets(0, "127.0.0.1")
        port = sockets[0].getsockname()[1]
        server.add_sockets(sockets)
        try:
            found = {fd: sock.getsockname()[1] for fd, sock in server._sockets.items()}
            return found, port, {sock.fileno() for sock in sockets}
        finally:
            server.stop()

    found, port, descriptors = asyncio.run(body())
    assert list(found.values()) == [port] and set(found) == descriptors


def test_template_path_may_be_a_list_for_an_application_rendering_with_its_own_engine() -> None:
    # A notebook server keeps its Jinja2 search path in template_path and renders itself.
    app = web.Application(template_path=["/srv/templates", "/srv/more"])
    assert app.settings["template_path"] == ["/srv/templates", "/srv/more"]


def make_handler(handler_class: type[web.RequestHandler]) -> web.RequestHandler:
    request = HTTPServerRequest(method="GET", uri="/", headers=HTTPHeaders())
    return handler_class(web.Application(), request)


def test_current_user_is_not_an_attribute_until_it_is_read_or_set() -> None:
    # write_error() overrides check hasattr(self, "_current_user") to avoid authenticating
    # again while rendering an error page.
    asked: list[bool] = []

    class Handler(web.RequestHandler):
        def get_current_user(self) -> Any:
            asked.append(True)
            return "ada"

    handler = make_handler(Handler)
    assert not hasattr(handler, "_current_user")
    assert handler.current_user == "ada" and handler.current_user == "ada"
    assert asked == [True] and hasattr(handler, "_current_user")
    other = make_handler(Handler)
    other.current_user = None
    assert other.current_user is None and asked == [True]


def test_web_has_tornado_s_logger_attributes() -> None:
    # mock.patch("tornado.web.app_log.error") patches the logger every part of squall uses.
    assert web.app_log is log.app_log
    assert web.gen_log is log.gen_log and web.access_log is log.access_log
    with mock.patch("squall.web.app_log.error") as error:
        log.app_log.error("seen")
    error.assert_called_once_with("seen")


def test_http_error_accepts_and_ignores_keywords_tornado_ignores() -> None:
    # Tornado's HTTPError takes **kwargs and reads only reason=; mock servers in third-party
    # suites raise HTTPError(404, message="...").
    error = web.HTTPError(404, message="Kernel does not exist: x")
    assert error.status_code == 404 and error.reason is None and error.get_message() is None
    assert web.HTTPError(418, reason="Teapot", extra=1).reason == "Teapot"
