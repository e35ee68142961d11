"""RequestHandler.render/render_string with Tornado's template language (the default), over a
real server: the namespace, the template settings, the loader cache, UI modules and methods
with their CSS/JS put into the page, and what a broken template does to a request.

Several tests reproduce behaviour facts checked by Tornado's own web_test (the module cannot be
run against squall yet); they say so in their docstrings.
"""

from __future__ import annotations

import logging
import os
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from squall.log import app_log
from squall.template import DictLoader, Loader, ParseError
from squall.testing import AsyncHTTPTestCase, ExpectLog
from squall.web import Application, RequestHandler, TemplateModule, UIModule
from squall.websocket import WebSocketHandler
from tests.conftest import Runner
from tests.ws.wsutil import serve, wait_for


@pytest.fixture(autouse=True)
def fresh_loaders() -> Iterator[None]:
    """Loaders made per template folder live for the process: forget this test's."""
    yield
    RequestHandler._template_loaders.clear()


class Records(logging.Filter):
    """Collects the records a logger sees (put on before ExpectLog, which swallows them)."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return True

    def __enter__(self) -> Records:
        self.logger.addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeFilter(self)


class PageHandler(RequestHandler):
    """Renders the template named by ``t`` with every other query argument as a name."""

    def get(self) -> None:
        names = {k: self.get_argument(k) for k in self.request.arguments if k != "t"}
        self.render(self.get_argument("t", "page.html"), **names)


class UserPageHandler(PageHandler):
    def get_current_user(self) -> Any:
        return "ada"


# ---------- Tornado's language through render ----------


class TemplateFolderTest(AsyncHTTPTestCase):
    """Templates in a folder (``template_path``): blocks, includes, escaping, the namespace."""

    def get_app(self) -> Application:
        folder = Path(self.enterContext(_tmp_folder()))
        self.folder = folder
        (folder / "static").mkdir()
        (folder / "static" / "site.css").write_text("p {}")
        files = {
            "base.html": "<html><head><title>{% block title %}Site{% end %}</title></head>"
            "<body>{% block body %}{% end %}</body></html>",
            "page.html": '{% extends "base.html" %}{% block title %}{{ title }}{% end %}'
            "{% block body %}{% for i in range(int(n)) %}<p>{{ i }}</p>{% end %}"
            '{% include "part.html" %}{% end %}',
            "part.html": "<i>{{ title }}</i>",
            "names.html": "handler={{ type(handler).__name__ }}\n"
            "request={{ request.path }}\n"
            "user={{ current_user }}\n"
            "locale={{ locale.code }}\n"
            "translate={{ _('Sign out') }}\n"
            "pgettext={{ pgettext('law', 'right') }}\n"
            "static={{ static_url('site.css') }}\n"
            "form={% raw xsrf_form_html() %}\n"
            "escaped_form={{ xsrf_form_html() }}\n"
            "url={{ reverse_url('named', 'a b') }}\n"
            "escape={% raw escape('<') %}{% raw xhtml_escape('&') %}\n"
            "url_escape={{ url_escape('a b/c') }}\n"
            "json={% raw json_encode({'k': '</x>'}) %}\n"
            "squeeze={{ squeeze('  a   b ') }}\n"
            "linkify={% raw linkify('http://x.org') %}\n"
            "datetime={{ datetime.date(2024, 5, 6).isoformat() }}\n"
            "modules={{ modules is _tt_modules }}\n",
            "sub/inner.html": '{% include "../part.html" %}',
        }
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
        return Application(
            [
                (r"/", PageHandler),
                (r"/user", UserPageHandler),
                (r"/named/([^/]+)", PageHandler, {}, "named"),
            ],
            template_path=str(folder),
            static_path=str(folder / "static"),
        )

    def test_extends_blocks_include_and_autoescape(self) -> None:
        response = self.fetch("/?n=2&title=<T>")
        assert response.code == 200
        assert response.body == (
            b"<html><head><title>&lt;T&gt;</title></head>"
            b"<body><p>0</p><p>1</p><i>&lt;T&gt;</i></body></html>"
        )
        assert response.headers["Content-Type"] == "text/html; charset=UTF-8"

    def test_include_relative_to_the_including_template(self) -> None:
        assert self.fetch("/?t=sub/inner.html&title=x").body == b"<i>x</i>"

    def test_the_namespace_has_tornados_names(self) -> None:
        response = self.fetch("/user?t=names.html")
        lines = dict(line.split("=", 1) for line in response.body.decode().splitlines())
        token = re.fullmatch(r'<input type="hidden" name="_xsrf" value="([^"]+)"/>', lines["form"])
        assert token is not None
        assert lines == {
            "handler": "UserPageHandler",
            "request": "/user",
            "user": "ada",
            "locale": "en_US",
            "translate": "Sign out",
            "pgettext": "right",
            "static": lines["static"],
            "form": lines["form"],
            # {{ }} escapes what it writes, as in Tornado: use {% raw %} or {% module %}.
            "escaped_form": lines["form"]
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace('"', "&quot;"),
            "url": "/named/a%20b",
            "escape": "&lt;&amp;",
            "url_escape": "a+b%2Fc",
            "json": '{"k": "<\\/x>"}',
            "squeeze": "a b",
            "linkify": '<a href="http://x.org">http://x.org</a>',
            "datetime": "2024-05-06",
            "modules": "True",
        }
        assert re.fullmatch(r"/static/site\.css\?v=[0-9a-f]+", lines["static"])

    def test_one_loader_per_template_folder_is_kept_on_the_handler_class(self) -> None:
        self.fetch("/?n=1&title=a")
        self.fetch("/?t=part.html&title=b")
        loaders = RequestHandler._template_loaders
        assert list(loaders) == [str(self.folder)]
        loader = loaders[str(self.folder)]
        assert isinstance(loader, Loader)
        assert set(loader.templates) == {"page.html", "base.html", "part.html"}

    def test_templates_compile_once_while_the_cache_is_on(self) -> None:
        assert self.fetch("/?t=part.html&title=a").body == b"<i>a</i>"
        (self.folder / "part.html").write_text("changed")
        assert self.fetch("/?t=part.html&title=a").body == b"<i>a</i>"


class _tmp_folder:
    """A temporary folder as a context manager (for ``enterContext`` in get_app)."""

    def __enter__(self) -> str:
        import tempfile

        self._dir = tempfile.TemporaryDirectory()
        return self._dir.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._dir.__exit__(None, None, None)


class DebugReloadTest(AsyncHTTPTestCase):
    """``debug`` (``compiled_template_cache=False``) reads templates again on every request."""

    def get_app(self) -> Application:
        self.folder = Path(self.enterContext(_tmp_folder()))
        (self.folder / "page.html").write_text("one")
        return Application(
            [(r"/", PageHandler), (r"/twice", TwiceHandler)],
            template_path=str(self.folder),
            debug=True,
            autoreload=False,
        )

    def test_an_edited_template_shows_on_the_next_request(self) -> None:
        assert self.fetch("/").body == b"one"
        page = self.folder / "page.html"
        stat = page.stat()
        page.write_text("two")
        os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: no mtime check
        assert self.fetch("/").body == b"two"

    def test_loaders_are_reset_once_per_request_not_per_render(self) -> None:
        response = self.fetch("/twice")
        assert response.body == b"compiled once: True"


class TwiceHandler(RequestHandler):
    def get(self) -> None:
        self.render_string("page.html")
        loader = RequestHandler._template_loaders[self.get_template_path() or ""]
        first = loader.templates["page.html"]
        self.render_string("page.html")
        self.write(f"compiled once: {loader.templates['page.html'] is first}")


# ---------- template settings ----------


class SettingsTest(AsyncHTTPTestCase):
    """``autoescape``, ``template_whitespace``, ``template_loader`` and the handler hooks."""

    def get_app(self) -> Application:
        return Application(
            [(r"/", PageHandler)],
            template_loader=DictLoader(
                {
                    "page.html": "{{ v }}",
                    "spaces.html": "a  \n\n  b {{ v }}",
                    "future.html": "{{ 1 + 1 }}",
                }
            ),
        )

    def test_the_template_loader_setting_is_used(self) -> None:
        assert self.fetch("/?v=<b>").body == b"&lt;b&gt;"
        # The setting is used as it is, never put in the per-folder cache.
        assert RequestHandler._template_loaders == {}

    def test_html_templates_squeeze_whitespace_by_default(self) -> None:
        assert self.fetch("/?t=spaces.html&v=x").body == b"a\nb x"


def test_autoescape_setting_none_turns_escaping_off(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("{{ v }}")

    class Test(AsyncHTTPTestCase):
        def get_app(self) -> Application:
            return Application([(r"/", PageHandler)], template_path=str(tmp_path), autoescape=None)

        def runTest(self) -> None:
            assert self.fetch("/?v=<b>").body == b"<b>"

    _run(Test())


@pytest.mark.parametrize(
    ("mode", "body"), [("all", b"a  \n\n  b"), ("single", b"a\nb"), ("oneline", b"a b")]
)
def test_template_whitespace_setting(tmp_path: Path, mode: str, body: bytes) -> None:
    (tmp_path / "page.html").write_text("a  \n\n  b")

    class Test(AsyncHTTPTestCase):
        def get_app(self) -> Application:
            return Application(
                [(r"/", PageHandler)], template_path=str(tmp_path), template_whitespace=mode
            )

        def runTest(self) -> None:
            assert self.fetch("/").body == body

    _run(Test())


def _run(case: AsyncHTTPTestCase) -> None:
    """Run one AsyncHTTPTestCase built inside a pytest test; its failures fail the test."""
    result = case.defaultTestResult()
    case.run(result)
    problems = result.errors + result.failures
    assert not problems, problems[0][1]


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"template_whitespace": "tight"}, ValueError, "template_whitespace setting 'tight'"),
        ({"autoescape": True}, TypeError, "autoescape setting must be the name"),
        ({"template_path": 3}, TypeError, "template_path setting must be a folder"),
        ({"template_loader": object()}, TypeError, "must be a template loader"),
        ({"ui_modules": "Entry"}, TypeError, "ui_modules must be a module"),
        ({"ui_methods": 3}, TypeError, "ui_methods must be a module"),
    ],
)
def test_bad_template_settings_fail_when_the_application_is_made(
    settings: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Application(**settings)


class HookHandler(RequestHandler):
    """Overrides the three hooks: its own folder, its own loader, its own names."""

    def get_template_path(self) -> str:
        return "/made/up/folder"

    def create_template_loader(self, template_path: str) -> DictLoader:
        return DictLoader({"page.html": "{{ folder }} {{ site }} {{ name }}"})

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(folder=self.get_template_path(), site="squall", name="from-namespace")
        return namespace

    def get(self) -> None:
        self.render("page.html", name="from-kwargs")


class HooksTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        # The setting is ignored by a handler with its own create_template_loader.
        return Application([(r"/", HookHandler)], template_loader=DictLoader({}))

    def test_overridden_hooks_are_used_and_kwargs_win(self) -> None:
        assert self.fetch("/").body == b"/made/up/folder squall from-kwargs"
        assert list(RequestHandler._template_loaders) == ["/made/up/folder"]


class NextToTheCallerTest(AsyncHTTPTestCase):
    """Without ``template_path``, templates are found beside the file that called render."""

    def get_app(self) -> Application:
        folder = Path(self.enterContext(_tmp_folder()))
        (folder / "home.html").write_text("beside {{ who }}")
        (folder / "site_handlers.py").write_text(
            "from squall.web import RequestHandler\n"
            "class Home(RequestHandler):\n"
            "    def get(self):\n"
            "        self.render('home.html', who='the module')\n"
        )
        import importlib.util

        spec = importlib.util.spec_from_file_location("site_handlers", folder / "site_handlers.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return Application([(r"/", module.Home)])

    def test_the_calling_files_folder_is_the_template_path(self) -> None:
        assert self.fetch("/").body == b"beside the module"


# ---------- UI modules and methods ----------


class Entry(UIModule):
    """A blog entry with its own CSS and JavaScript."""

    def render(self, title: str) -> str:
        return self.render_string("entry.html", title=title).decode()

    def embedded_css(self) -> str:
        return ".entry { margin: 0 }"

    def css_files(self) -> list[str]:
        return ["entry.css", "https://cdn.example/x.css"]

    def javascript_files(self) -> str:
        return "/js/entry.js"

    def embedded_javascript(self) -> str:
        return "entries()"


def shout(handler: RequestHandler, text: str) -> str:
    return f"{text.upper()} ({handler.request.path})"


UI_METHODS = types.ModuleType("ui_methods_for_test")
UI_METHODS.shout = shout  # type: ignore[attr-defined]
UI_METHODS._hidden = shout  # type: ignore[attr-defined]


class EntriesHandler(RequestHandler):
    def get(self) -> None:
        self.render("entries.html", titles=["a<", "b"])


class CustomLinksHandler(EntriesHandler):
    def render_linked_css(self, css_files: Any) -> str:
        return "<!-- css: " + " ".join(css_files) + " -->"

    def render_embed_js(self, js_embed: Any) -> bytes:
        return b"<script>/* custom */</script>"


class UIModulesTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        folder = Path(self.enterContext(_tmp_folder()))
        (folder / "static").mkdir()
        (folder / "static" / "entry.css").write_text(".e {}")
        return Application(
            [(r"/", EntriesHandler), (r"/custom", CustomLinksHandler)],
            static_path=str(folder / "static"),
            template_loader=DictLoader(
                {
                    "entries.html": "<html><head><title>t</title></head><body>"
                    "{% for t in titles %}{% module Entry(t) %}{% end %}"
                    "{{ shout('hi') }}</body></html>",
                    "entry.html": "<div class=entry>{{ title }}</div>",
                }
            ),
            ui_modules=[{"Entry": Entry}],
            ui_methods=UI_METHODS,
        )

    def test_module_css_and_js_are_inserted_once_through_render(self) -> None:
        body = self.fetch("/").body.decode()
        version = re.search(r"/static/entry\.css\?v=([0-9a-f]+)", body)
        assert version is not None
        assert body == (
            "<html><head><title>t</title>"
            f'<link href="/static/entry.css?v={version.group(1)}" type="text/css" '
            'rel="stylesheet"/><link href="https://cdn.example/x.css" type="text/css" '
            'rel="stylesheet"/>\n'
            '<style type="text/css">\n.entry { margin: 0 }\n</style>\n'
            "</head><body><div class=entry>a&lt;</div><div class=entry>b</div>HI (/)"
            '<script src="/js/entry.js" type="text/javascript"></script>\n'
            '<script type="text/javascript">\n//<![CDATA[\nentries()\n//]]>\n</script>\n'
            "</body></html>"
        )

    def test_the_handlers_render_methods_can_be_overridden(self) -> None:
        body = self.fetch("/custom").body.decode()
        assert "<!-- css: entry.css https://cdn.example/x.css -->\n" in body
        assert "<script>/* custom */</script>\n</body>" in body
        assert "<link" not in body and "CDATA" not in body

    def test_the_application_merges_builtin_and_configured_modules_and_methods(self) -> None:
        app = self.get_app()
        assert set(app.ui_modules) == {"linkify", "xsrf_form_html", "Template", "Entry"}
        assert app.ui_modules["Template"] is TemplateModule
        assert set(app.ui_methods) == {"shout"}


class TornadoUIModuleResourcesTest(AsyncHTTPTestCase):
    """Tornado web_test's WSGISafeWebTest.test_uimodule_resources and
    test_uimodule_unescaped: the page, byte for byte."""

    def get_app(self) -> Application:
        loader = DictLoader(
            {
                "linkify.html": "{% module linkify(message) %}",
                "page.html": "<html><head></head><body>\n{% for e in entries %}\n"
                '{% module Template("entry.html", entry=e) %}\n{% end %}\n</body></html>',
                "entry.html": '{{ set_resources(embedded_css=".entry { margin-bottom: 1em; }",\n'
                '                 embedded_javascript="js_embed()",\n'
                '                 css_files=["/base.css", "/foo.css"],\n'
                '                 javascript_files="/common.js",\n'
                '                 html_head="<meta>",\n'
                "                 html_body='<script src=\"/analytics.js\"/>') }}\n"
                '<div class="entry">...</div>',
            }
        )
        return Application(
            [(r"/linkify", LinkifyHandler), (r"/resources", ResourcesHandler)],
            template_loader=loader,
            autoescape="xhtml_escape",
        )

    def test_uimodule_unescaped(self) -> None:
        assert self.fetch("/linkify").body == (
            b'<a href="http://example.com">http://example.com</a>'
        )

    def test_uimodule_resources(self) -> None:
        assert self.fetch("/resources").body == (
            b'<html><head><link href="/base.css" type="text/css" rel="stylesheet"/>'
            b'<link href="/foo.css" type="text/css" rel="stylesheet"/>\n'
            b'<style type="text/css">\n.entry { margin-bottom: 1em; }\n</style>\n'
            b"<meta>\n"
            b'</head><body>\n\n\n<div class="entry">...</div>\n\n\n<div class="entry">...</div>'
            b'\n\n<script src="/common.js" type="text/javascript"></script>\n'
            b'<script type="text/javascript">\n//<![CDATA[\njs_embed()\n//]]>\n</script>\n'
            b'<script src="/analytics.js"/>\n'
            b"</body></html>"
        )


class LinkifyHandler(RequestHandler):
    def get(self) -> None:
        self.render("linkify.html", message="http://example.com")


class ResourcesHandler(RequestHandler):
    def get(self) -> None:
        self.render("page.html", entries=[1, 2])


class ValueHandler(RequestHandler):
    def get(self) -> None:
        self.render("foo.html")

    def value(self) -> str:
        return str(self.get_argument("value"))


class ValueModule(UIModule):
    def render(self, x: int) -> str:
        return f"In MyModule({x}) with handler value {self.handler.value()}."


class TornadoUIMethodUIModuleTest(AsyncHTTPTestCase):
    """Tornado web_test's UIMethodUIModuleTest: methods and modules see their handler."""

    def get_app(self) -> Application:
        def my_ui_method(handler: ValueHandler, x: int) -> str:
            return f"In my_ui_method({x}) with handler value {handler.value()}."

        return Application(
            [(r"/", ValueHandler)],
            template_loader=DictLoader(
                {"foo.html": "{{ my_ui_method(42) }} {% module MyModule(123) %}"}
            ),
            ui_methods={"my_ui_method": my_ui_method},
            ui_modules={"MyModule": ValueModule},
        )

    def test_ui_method(self) -> None:
        assert self.fetch("/?value=asdf").body == (
            b"In my_ui_method(42) with handler value asdf. "
            b"In MyModule(123) with handler value asdf."
        )


class CurrentUserHandler(RequestHandler):
    loaded = False

    def get_current_user(self) -> str:
        self.loaded = True
        return "ada"

    def get_template_namespace(self) -> dict[str, Any]:
        return dict(self.ui)  # the modules only: current_user is not asked for here

    def get(self, name: str) -> None:
        html = self.render_string(f"{name}.html")
        self.finish(f"{html.decode()}|{self.loaded}")


class WithoutUserModule(UIModule):
    def render(self) -> str:
        return "-"


class WithUserModule(UIModule):
    def render(self) -> str:
        return str(self.current_user)


class TornadoCurrentUserFromModulesTest(AsyncHTTPTestCase):
    """Tornado web_test's GetCurrentUserTest: a module asks for current_user only if used."""

    def get_app(self) -> Application:
        return Application(
            [(r"/(\w+)", CurrentUserHandler)],
            template_loader=DictLoader(
                {
                    "without.html": "{% module WithoutUserModule() %}",
                    "with.html": "{% module WithUserModule() %}",
                }
            ),
            ui_modules={"WithUserModule": WithUserModule, "WithoutUserModule": WithoutUserModule},
        )

    def test_get_current_user_from_ui_module_is_lazy(self) -> None:
        assert self.fetch("/without").body == b"-|False"

    def test_get_current_user_from_ui_module_works(self) -> None:
        assert self.fetch("/with").body == b"ada|True"


class RenderReturnHandler(RequestHandler):
    returned: Any = None

    def create_template_loader(self, template_path: str) -> DictLoader:
        return DictLoader({"foo.html": "hi"})

    async def get(self) -> None:
        result = self.render("foo.html")
        type(self).returned = result
        await result
        with pytest.raises(RuntimeError, match=r"Cannot render\(\) after finish\(\)"):
            self.render("foo.html")


class RenderReturnTest(AsyncHTTPTestCase):
    """Tornado web_test's FinalReturnTest.test_render_method_return_future: render returns
    finish's awaitable; rendering again after it raises."""

    def get_app(self) -> Application:
        return Application([(r"/", RenderReturnHandler)], template_path="FinalReturnTest")

    def test_render_returns_an_awaitable_and_refuses_a_second_render(self) -> None:
        response = self.fetch("/")
        assert (response.code, response.body) == (200, b"hi")
        assert hasattr(RenderReturnHandler.returned, "__await__")


# ---------- broken templates ----------


class BrokenTemplatesTest(AsyncHTTPTestCase):
    """A bad template is a 500 with the error logged once, naming the template and line."""

    def get_app(self) -> Application:
        return Application(
            [(r"/", PageHandler)],
            template_loader=DictLoader(
                {
                    "unclosed.html": "<p>\n{% if True %}\nnever closed\n",
                    "unknown.html": "one\ntwo\n{% frobnicate %}\n",
                    "stray_end.html": "{% end %}",
                    "raises.html": "<p>\n{{ 1 // int(zero) }}\n</p>",
                    "outer.html": 'a\n{% include "raises.html" %}',
                    "missing_include.html": '{% include "nowhere.html" %}',
                }
            ),
        )

    def fetch_logged(self, template: str) -> tuple[int, BaseException]:
        """Fetch a page; returns (status, the one exception logged for it)."""
        with Records(app_log) as records, ExpectLog(app_log, "Uncaught exception GET /") as log:
            with ExpectLog("squall.access", "500 GET"):
                response = self.fetch(f"/?t={template}&zero=0")
        assert log.matched_count == 1, [r.getMessage() for r in records.records]
        (record,) = records.records
        assert record.exc_info is not None and record.exc_info[1] is not None
        return response.code, record.exc_info[1]

    def test_unclosed_block(self) -> None:
        code, error = self.fetch_logged("unclosed.html")
        assert code == 500
        assert isinstance(error, ParseError)
        assert (error.filename, error.lineno) == ("unclosed.html", 2)

    def test_unknown_directive(self) -> None:
        code, error = self.fetch_logged("unknown.html")
        assert code == 500 and isinstance(error, ParseError)
        assert (error.filename, error.lineno) == ("unknown.html", 3)
        assert "frobnicate" in str(error)

    def test_end_without_a_block(self) -> None:
        code, error = self.fetch_logged("stray_end.html")
        assert code == 500 and isinstance(error, ParseError)
        assert (error.filename, error.lineno) == ("stray_end.html", 1)

    def test_an_exception_inside_an_expression_names_the_template_and_line(self) -> None:
        code, error = self.fetch_logged("raises.html")
        assert code == 500 and isinstance(error, ZeroDivisionError)
        assert _template_lines(error) == ["raises.html:2"]

    def test_the_traceback_shows_the_include_chain(self) -> None:
        _, error = self.fetch_logged("outer.html")
        assert _template_lines(error) == ["raises.html:2 (via outer.html:2)"]

    def test_a_missing_include_is_a_parse_error_naming_the_including_line(self) -> None:
        code, error = self.fetch_logged("missing_include.html")
        assert code == 500 and isinstance(error, ParseError)
        assert "nowhere.html" in str(error)
        assert (error.filename, error.lineno) == ("missing_include.html", 1)


def _template_lines(error: BaseException) -> list[str]:
    """The ``# name:line`` comments of the template frames in ``error``'s traceback."""
    import traceback

    found = []
    for frame in traceback.extract_tb(error.__traceback__):
        match = re.search(r"#\s*(\S+:\d+(?: \(via .*\))?)\s*$", frame.line or "")
        if match:
            found.append(match.group(1))
    return found


# ---------- rendering outside render(): a WebSocket handler ----------


class RenderMessageHandler(WebSocketHandler):
    """Tornado websocket_test's RenderMessageHandler: render_string answers each message."""

    def on_message(self, message: str | bytes) -> None:
        self.write_message(self.render_string("message.html", message=message))


def test_a_websocket_handler_renders_with_render_string(run: Runner[Any]) -> None:
    app = Application(
        [(r"/ws", RenderMessageHandler)],
        template_loader=DictLoader({"message.html": "<b>{{ message }}</b>"}),
    )

    async def body() -> None:
        async with serve(app) as served, connect(served.url(), proxy=None) as ws:
            await ws.send("hello <you>")
            assert await wait_for(ws.recv()) == "<b>hello &lt;you&gt;</b>"  # a text frame

    run(body())
