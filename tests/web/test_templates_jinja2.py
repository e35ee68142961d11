"""Jinja2 as the explicit choice: ``Jinja2Loader`` as the ``template_loader`` setting or from
``create_template_loader``, with Tornado's template namespace.

Each test serves a real application on 127.0.0.1 and fetches with httpx; templates are
written into ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, ParamSpec

import httpx
import jinja2
import pytest

from squall import locale
from squall._web import templates
from squall._web.application import Application
from squall._web.handler import RequestHandler
from squall.httpserver import HTTPServer
from squall.netutil import bind_sockets
from squall.web import Jinja2Loader, UIModule
from tests.helpers.locale_state import isolated_locale_state

P = ParamSpec("P")


def async_test(fn: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test function on a fresh asyncio loop, with a 30 s ceiling."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 30))

    return wrapper


@contextlib.asynccontextmanager
async def serve(app: Application) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` on an unused 127.0.0.1 port; yields a client pointed at it."""
    socks = bind_sockets(0, "127.0.0.1")
    port = socks[0].getsockname()[1]
    server = HTTPServer(app)
    server.add_sockets(socks)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.stop()
        await server.close_all_connections()


@pytest.fixture(autouse=True)
def fresh_loaders() -> Iterator[None]:
    """Loaders made per template folder live for the process: forget this test's."""
    yield
    RequestHandler._template_loaders.clear()


class PageHandler(RequestHandler):
    """Renders the template named by the ``t`` argument with ``name`` from the query."""

    def get(self) -> None:
        self.render(self.get_argument("t", "page.html"), name=self.get_argument("name", ""))


class JinjaFolderHandler(PageHandler):
    """Jinja2 on the handler's template folder (the ``template_path`` setting)."""

    def create_template_loader(self, template_path: str) -> Jinja2Loader:
        return Jinja2Loader(template_path)


class UserHandler(JinjaFolderHandler):
    def get_current_user(self) -> Any:
        return "alice"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jinja_app(folder: Path, *rules: Any, **settings: Any) -> Application:
    """An application rendering ``folder``'s templates with Jinja2 (the setting)."""
    return Application(
        list(rules) or [(r"/", PageHandler)], template_loader=Jinja2Loader(folder), **settings
    )


# -- escaping ------------------------------------------------------------------------------


@async_test
async def test_render_autoescapes_by_default(tmp_path: Path) -> None:
    write(tmp_path, "page.html", "<b>{{ name }}</b>{% if true %}!{% endif %}")
    async with serve(jinja_app(tmp_path)) as client:
        r = await client.get("/", params={"name": "<script>alert('x')</script>"})
    assert r.status_code == 200
    assert r.text == "<b>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</b>!"
    assert r.headers["content-type"] == "text/html; charset=UTF-8"


@async_test
async def test_autoescape_false_disables_escaping(tmp_path: Path) -> None:
    write(tmp_path, "page.html", "{{ name }}")
    app = Application(
        [(r"/", PageHandler)], template_loader=Jinja2Loader(tmp_path, autoescape=False)
    )
    async with serve(app) as client:
        r = await client.get("/", params={"name": "<i>raw</i>"})
    assert r.text == "<i>raw</i>"


@async_test
async def test_escape_helpers_are_in_the_namespace(tmp_path: Path) -> None:
    write(
        tmp_path,
        "page.html",
        "{{ xhtml_escape(name) }}|{{ url_escape('a b/c') }}|{{ json_encode({'k': '</x>'})|safe }}"
        "|{{ squeeze('  a   b ') }}|{{ linkify('see http://example.com <now>') }}"
        "|{{ escape('<') }}|{{ datetime.date(2024, 1, 2) }}",
    )
    async with serve(jinja_app(tmp_path)) as client:
        r = await client.get("/", params={"name": "<&>"})
    escaped, url, js, squeezed, linked, esc, date = r.text.split("|")
    assert escaped == "&lt;&amp;&gt;"  # escaped once, not twice
    assert url == "a+b%2Fc"
    assert js == '{"k": "<\\/x>"}'
    assert squeezed == "a b"
    assert linked == 'see <a href="http://example.com">http://example.com</a> &lt;now&gt;'
    assert (esc, date) == ("&lt;", "2024-01-02")


# -- the namespace -------------------------------------------------------------------------


@async_test
async def test_template_namespace_has_tornados_names(tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "app.css").write_text("p {}")
    write(
        tmp_path / "templates",
        "page.html",
        "handler={{ handler.__class__.__name__ }}\n"
        "path={{ request.path }}\n"
        "user={{ current_user }}\n"
        "static={{ static_url('app.css') }}\n"
        "url={{ reverse_url('page', 'x y') }}\n"
        "form={{ xsrf_form_html() }}\n"
        "locale={{ locale.code }}\n"
        "translated={{ _('Sign out') }}\n"
        "context={{ pgettext('menu', 'Open') }}\n",
    )
    app = Application(
        [(r"/", UserHandler), (r"/page/([^/]+)", PageHandler, {}, "page")],
        template_path=str(tmp_path / "templates"),
        static_path=str(tmp_path / "static"),
    )
    async with serve(app) as client:
        r = await client.get("/")
    lines = dict(line.split("=", 1) for line in r.text.splitlines())
    assert lines["handler"] == "UserHandler"
    assert lines["path"] == "/"
    assert lines["user"] == "alice"
    assert lines["static"].startswith("/static/app.css?v=")
    assert lines["url"] == "/page/x%20y"
    assert lines["form"].startswith('<input type="hidden" name="_xsrf" value="')  # not escaped
    assert "_xsrf=" in r.headers["set-cookie"]
    assert (lines["locale"], lines["translated"], lines["context"]) == ("en_US", "Sign out", "Open")


@async_test
async def test_translations_reach_jinja2_templates(tmp_path: Path) -> None:
    write(tmp_path / "i18n", "fr_FR.csv", '"Sign out","Se déconnecter"\n')
    write(tmp_path, "page.html", "{{ _('Sign out') }}")
    with isolated_locale_state():
        locale.load_translations(str(tmp_path / "i18n"))
        async with serve(jinja_app(tmp_path)) as client:
            r = await client.get("/", headers={"Accept-Language": "fr-FR,en;q=0.5"})
    assert r.text == "Se déconnecter"


class Badge(UIModule):
    def render(self, who: str) -> str:
        return f"<span class=badge>{escape_text(who)}</span>"

    def embedded_css(self) -> str:
        return ".badge { color: red }"


def escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


@async_test
async def test_ui_modules_and_methods_in_jinja2_templates(tmp_path: Path) -> None:
    write(
        tmp_path,
        "page.html",
        "<html><head></head><body>{{ modules.Badge(name) }}{{ _tt_modules.Badge('b') }}"
        "{{ shout(name) }}</body></html>",
    )
    app = jinja_app(
        tmp_path,
        ui_modules={"Badge": Badge},
        ui_methods={"shout": lambda handler, text: text.upper() + "<!>"},
    )
    async with serve(app) as client:
        r = await client.get("/", params={"name": "<a>"})
    assert r.text == (
        '<html><head><style type="text/css">\n.badge { color: red }\n</style>\n</head><body>'
        "<span class=badge>&lt;a></span><span class=badge>b</span>&lt;A&gt;&lt;!&gt;"
        "</body></html>"
    )


class OverridingHandler(RequestHandler):
    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace["site"] = "squall"
        namespace["name"] = "from-namespace"
        return namespace

    def get(self) -> None:
        self.render("page.html", name="from-kwargs")


@async_test
async def test_render_kwargs_win_over_the_handler_namespace(tmp_path: Path) -> None:
    write(tmp_path, "page.html", "{{ site }}:{{ name }}")
    async with serve(jinja_app(tmp_path, (r"/", OverridingHandler))) as client:
        r = await client.get("/")
    assert r.text == "squall:from-kwargs"


# -- errors --------------------------------------------------------------------------------


@async_test
async def test_missing_template_is_500_with_a_clear_log_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(jinja_app(tmp_path)) as client:
        with caplog.at_level(logging.ERROR, logger="squall.application"):
            r = await client.get("/", params={"t": "nope.html"})
    assert r.status_code == 500
    assert "Template 'nope.html' not found" in caplog.text
    assert str(tmp_path) in caplog.text


@async_test
async def test_missing_include_names_the_included_template(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "page.html", "{% include 'partial.html' %}")
    async with serve(jinja_app(tmp_path)) as client:
        with caplog.at_level(logging.ERROR, logger="squall.application"):
            r = await client.get("/")
    assert r.status_code == 500
    assert "Template 'partial.html' not found (rendering 'page.html'" in caplog.text


@async_test
async def test_a_jinja2_syntax_error_is_a_500_logged_once_with_template_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "page.html", "line one\n{% if %}\n")
    async with serve(jinja_app(tmp_path)) as client:
        with caplog.at_level(logging.ERROR):
            r = await client.get("/")
    assert r.status_code == 500
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert [rec.name for rec in errors] == ["squall.application", "squall.access"]
    assert errors[0].exc_info is not None
    syntax_error = errors[0].exc_info[1]
    assert isinstance(syntax_error, jinja2.TemplateSyntaxError)
    assert (syntax_error.name, syntax_error.lineno) == ("page.html", 2)


def test_missing_jinja2_raises_import_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "jinja2", None)
    with pytest.raises(
        ImportError, match=r"Jinja2Loader needs Jinja2: pip install 'squall\[templates\]'"
    ):
        Jinja2Loader("templates")


def test_jinja2_loader_refuses_what_it_cannot_load_from() -> None:
    with pytest.raises(TypeError, match="template folder, a jinja2 loader or a jinja2.Env"):
        Jinja2Loader(42)
    with pytest.raises(TypeError, match="not to one given"):
        Jinja2Loader(jinja2.Environment(), trim_blocks=True)


# -- where templates come from -------------------------------------------------------------


@async_test
async def test_without_template_path_templates_are_found_next_to_the_calling_file(
    tmp_path: Path,
) -> None:
    module_file = write(
        tmp_path,
        "sitehandlers.py",
        "from squall.web import Jinja2Loader, RequestHandler\n"
        "class Home(RequestHandler):\n"
        "    def create_template_loader(self, template_path):\n"
        "        return Jinja2Loader(template_path)\n"
        "    def get(self):\n"
        "        self.render('home.html', who='module')\n",
    )
    write(tmp_path, "home.html", "next to {{ who }}")
    spec = importlib.util.spec_from_file_location("sitehandlers_for_test", module_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    async with serve(Application([(r"/", module.Home)])) as client:
        r = await client.get("/")
    assert (r.status_code, r.text) == (200, "next to module")


@async_test
async def test_template_loader_setting_accepts_a_wrapped_jinja2_loader(tmp_path: Path) -> None:
    loader = Jinja2Loader(jinja2.DictLoader({"page.html": "dict {{ name }}"}))
    app = Application([(r"/", PageHandler)], template_loader=loader)
    async with serve(app) as client:
        r = await client.get("/", params={"name": "<x>"})
    assert r.text == "dict &lt;x&gt;"


@async_test
async def test_template_loader_setting_accepts_a_wrapped_jinja2_environment(
    tmp_path: Path,
) -> None:
    env = jinja2.Environment(
        loader=jinja2.DictLoader({"page.html": "env {{ name }} {{ name|shout }}"}),
        autoescape=False,
    )
    env.filters["shout"] = str.upper
    app = Application([(r"/", PageHandler)], template_loader=Jinja2Loader(env))
    async with serve(app) as client:
        r = await client.get("/", params={"name": "<x>"})
    assert r.text == "env <x> <X>"


class LoaderHandler(PageHandler):
    def create_template_loader(self, template_path: str) -> Jinja2Loader:
        return Jinja2Loader(jinja2.DictLoader({"page.html": f"made for {template_path}"}))


@async_test
async def test_create_template_loader_override_is_used(tmp_path: Path) -> None:
    app = Application([(r"/", LoaderHandler)], template_path=str(tmp_path))
    async with serve(app) as client:
        r = await client.get("/")
    assert r.text == f"made for {tmp_path}"


def test_a_raw_jinja2_template_loader_setting_is_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"wrap it as squall.web.Jinja2Loader\(...\)"):
        Application(template_loader=jinja2.DictLoader({}))
    with pytest.raises(TypeError, match="must be a template loader"):
        Application(template_loader="not a loader")


class RawJinjaHandler(PageHandler):
    def create_template_loader(self, template_path: str) -> Any:
        return jinja2.FileSystemLoader(template_path)


@async_test
async def test_a_raw_jinja2_loader_from_create_template_loader_is_a_500_saying_what_to_do(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = Application([(r"/", RawJinjaHandler)], template_path=str(tmp_path))
    async with serve(app) as client:
        with caplog.at_level(logging.ERROR, logger="squall.application"):
            r = await client.get("/")
    assert r.status_code == 500
    assert "create_template_loader() gave a Jinja2 FileSystemLoader: wrap it" in caplog.text


# -- caching and reload --------------------------------------------------------------------


@async_test
async def test_compiled_template_cache_off_picks_up_edits_between_requests(
    tmp_path: Path,
) -> None:
    template = write(tmp_path, "page.html", "version one")
    app = jinja_app(tmp_path, debug=True, autoreload=False)
    async with serve(app) as client:
        first = (await client.get("/")).text
        stat = template.stat()
        template.write_text("version two")
        # Same mtime as before: the edit must be found by resetting, not by an mtime check.
        os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        second = (await client.get("/")).text
    assert (first, second) == ("version one", "version two")


@async_test
async def test_compiled_template_cache_on_keeps_the_first_compilation(tmp_path: Path) -> None:
    template = write(tmp_path, "page.html", "version one")
    async with serve(jinja_app(tmp_path)) as client:
        first = (await client.get("/")).text
        template.write_text("version two, longer")
        os.utime(template, (1e9 + 10, 2e9))  # a newer mtime is not looked at either
        second = (await client.get("/")).text
    assert first == second == "version one"


class Fake:
    """What templates.render_string uses of a handler, Jinja2 on its folder."""

    def __init__(self, app: Application, folder: Path) -> None:
        self.application = app
        self.folder = folder
        self._templates_reset = False

    def get_template_path(self) -> str:
        return str(self.folder)

    def get_template_namespace(self) -> dict[str, Any]:
        return {}

    def create_template_loader(self, template_path: str) -> Jinja2Loader:
        return Jinja2Loader(template_path)


def test_loaders_are_made_once_per_template_folder(tmp_path: Path) -> None:
    write(tmp_path / "a", "t.html", "A")
    write(tmp_path / "b", "t.html", "B")
    app = Application()
    a: Any = Fake(app, tmp_path / "a")
    b: Any = Fake(app, tmp_path / "b")
    assert templates.render_string(a, "t.html", {}, own_loader=True) == b"A"
    assert templates.render_string(b, "t.html", {}, own_loader=True) == b"B"
    loaders = RequestHandler._template_loaders
    assert set(loaders) == {str(tmp_path / "a"), str(tmp_path / "b")}
    before = dict(loaders)
    again: Any = Fake(app, tmp_path / "a")
    templates.render_string(again, "t.html", {}, own_loader=True)
    assert RequestHandler._template_loaders == before


def test_render_string_returns_utf8_bytes(tmp_path: Path) -> None:
    write(tmp_path, "t.html", "héllo {{ who }} ✓")
    handler: Any = Fake(Application(), tmp_path)
    out = templates.render_string(handler, "t.html", {"who": "wörld"}, own_loader=True)
    assert isinstance(out, bytes)
    assert out.decode("utf-8") == "héllo wörld ✓"
