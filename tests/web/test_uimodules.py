"""UI modules on their own: the module namespace, the built-in modules, the settings, and the
insertion of the modules' CSS/JS into a page (render_assets)."""

from __future__ import annotations

import types
from typing import Any

import pytest

from squall._web import render_assets, uimodules
from squall._web.render_assets import PageAssets, collect_assets, insert_assets
from squall._web.uimodules import DEFAULT_UI_MODULES, UIModule, UIModuleNamespace
from squall.template import DictLoader


def static_url(path: str) -> str:
    return f"/static/{path}?v=1"


RENDERER = render_assets.DefaultAssetRenderer(static_url)
PAGE = b"<html><head><title>t</title></head><body><p>hi</p></body></html>"


# ---------- insert_assets ----------


def test_nothing_to_insert_leaves_the_page_unchanged() -> None:
    assert insert_assets(PAGE, PageAssets(), RENDERER) == PAGE


def test_every_kind_of_asset_goes_where_tornado_puts_it() -> None:
    assets = PageAssets(
        js_files=["app.js", "/abs.js", "https://cdn.example/x.js", "app.js"],
        js_embed=[b"var a = 1;", b"var b = 2;"],
        css_files=["site.css", "http://cdn.example/y.css"],
        css_embed=[b"p { color: red }"],
        html_heads=[b"<meta name=a>"],
        html_bodies=[b"<div id=end></div>"],
    )
    out = insert_assets(PAGE, assets, RENDERER)
    assert out == (
        b"<html><head><title>t</title>"
        b'<link href="/static/site.css?v=1" type="text/css" rel="stylesheet"/>'
        b'<link href="http://cdn.example/y.css" type="text/css" rel="stylesheet"/>\n'
        b'<style type="text/css">\np { color: red }\n</style>\n'
        b"<meta name=a>\n"
        b"</head><body><p>hi</p>"
        b'<script src="/static/app.js?v=1" type="text/javascript"></script>'
        b'<script src="/abs.js" type="text/javascript"></script>'
        b'<script src="https://cdn.example/x.js" type="text/javascript"></script>\n'
        b'<script type="text/javascript">\n//<![CDATA[\nvar a = 1;\nvar b = 2;\n//]]>\n</script>\n'
        b"<div id=end></div>\n"
        b"</body></html>"
    )


def test_urls_are_escaped_in_attributes() -> None:
    assets = PageAssets(js_files=['/x.js?a=1&b="2"'])
    assert b'src="/x.js?a=1&amp;b=&quot;2&quot;"' in insert_assets(PAGE, assets, RENDERER)


def test_body_parts_go_before_the_last_body_end_and_head_parts_before_the_first_head_end() -> None:
    page = b"<head></head><body><pre></body></pre></body>"
    assets = PageAssets(html_heads=[b"H"], html_bodies=[b"B"])
    assert insert_assets(page, assets, RENDERER) == (
        b"<head>H\n</head><body><pre></body></pre>B\n</body>"
    )


def test_a_page_without_head_or_body_still_gets_its_assets() -> None:
    assets = PageAssets(html_heads=[b"<meta>"], js_embed=[b"x()"])
    out = insert_assets(b"<p>fragment</p>", assets, RENDERER)
    assert out.startswith(b"<meta>\n<p>fragment</p>")
    assert out.endswith(b"x()\n//]]>\n</script>\n")


def test_overridden_renderers_are_used() -> None:
    class Custom(render_assets.DefaultAssetRenderer):
        def render_linked_js(self, js_files: Any) -> str:
            return "<!-- js: " + ",".join(js_files) + " -->"

    out = insert_assets(PAGE, PageAssets(js_files=["a.js", "b.js"]), Custom(static_url))
    assert b"<!-- js: a.js,b.js -->\n</body>" in out


class Resources(UIModule):
    def __init__(self, handler: Any, **resources: Any) -> None:
        super().__init__(handler)
        self.resources = resources

    def render(self) -> str:
        return ""

    def embedded_javascript(self) -> str | None:
        return self.resources.get("js")

    def javascript_files(self) -> Any:
        return self.resources.get("js_files")

    def embedded_css(self) -> str | None:
        return self.resources.get("css")

    def css_files(self) -> Any:
        return self.resources.get("css_files")

    def html_head(self) -> str | None:
        return self.resources.get("head")

    def html_body(self) -> str | None:
        return self.resources.get("body")


def test_collect_assets_accepts_one_path_or_many_and_drops_repeated_embedded_blocks() -> None:
    handler = FakeHandler()
    modules = [
        Resources(handler, js="a()", js_files="one.js", css="p{}", css_files=["x.css", "y.css"]),
        Resources(handler, js="a()", js_files=["two.js"], css="p{}", head="<h>", body="<b>"),
        Resources(handler),
    ]
    assets = collect_assets(modules)
    assert assets == PageAssets(
        js_files=["one.js", "two.js"],
        js_embed=[b"a()"],
        css_files=["x.css", "y.css"],
        css_embed=[b"p{}"],
        html_heads=[b"<h>"],
        html_bodies=[b"<b>"],
    )


# ---------- modules through templates ----------


class FakeHandler:
    """What a UI module needs of a RequestHandler, over a DictLoader."""

    def __init__(self, templates: dict[str, str] | None = None) -> None:
        self.request = object()
        self.locale = "en_US"
        self.current_user = "ada"
        self.loader = DictLoader(templates or {})
        self.ui: dict[str, Any] = {}
        self.namespace = UIModuleNamespace(self, dict(DEFAULT_UI_MODULES))
        self.ui["_tt_modules"] = self.ui["modules"] = self.namespace

    def xsrf_form_html(self) -> str:
        return '<input type="hidden" name="_xsrf" value="token"/>'

    def render_string(self, path: str, **kwargs: Any) -> bytes:
        return self.loader.load(path).generate(**self.ui, **kwargs)

    def render(self, path: str, **kwargs: Any) -> bytes:
        html = self.render_string(path, **kwargs)
        assets = collect_assets(self.namespace.active.values())
        return insert_assets(html, assets, render_assets.DefaultAssetRenderer(static_url))


class Entry(UIModule):
    def render(self, title: str) -> str:
        return f"<article>{self.current_user}: {title}</article>"

    def embedded_css(self) -> str:
        return ".entry { margin: 0 }"

    def javascript_files(self) -> list[str]:
        return ["entry.js"]


def test_module_renders_unescaped_and_its_resources_are_inserted_once() -> None:
    handler = FakeHandler(
        {
            "page.html": "<head></head><body>"
            "{% for t in titles %}{% module Entry(t) %}{% end %}</body>"
        }
    )
    handler.namespace.ui_modules["Entry"] = Entry
    out = handler.render("page.html", titles=["a", "b"])
    assert out.count(b"<article>ada: ") == 2
    assert out.count(b".entry { margin: 0 }") == 1
    assert out.count(b"entry.js") == 1
    assert list(handler.namespace.active) == ["Entry"]


def test_builtin_linkify_and_xsrf_form_html_modules() -> None:
    handler = FakeHandler(
        {
            "p.html": "{% module linkify(text) %}|{% module xsrf_form_html() %}|"
            "{{ modules.linkify('x') }}"
        }
    )
    out = handler.render("p.html", text="see http://x.org <now>")
    assert out == (
        b'see <a href="http://x.org">http://x.org</a> &lt;now&gt;|'
        b'<input type="hidden" name="_xsrf" value="token"/>|x'
    )


def test_template_module_has_its_own_namespace_and_resources() -> None:
    handler = FakeHandler(
        {
            "page.html": "<head></head><body>{% set secret = 1 %}"
            "{% module Template('card.html', name='<b>') %}"
            "{% module Template('card.html', name='c') %}</body>",
            "card.html": "{{ set_resources(css_files='card.css', embedded_javascript='card()',"
            " html_body='<i>end</i>') }}[{{ name }}{{ 'secret' in globals() }}]",
        }
    )
    out = handler.render("page.html")
    assert b"[&lt;b&gt;False][cFalse]" in out
    assert out.count(b"card.css") == 1
    assert out.count(b"card()") == 1
    assert b"<i>end</i>\n</body>" in out


def test_template_module_refuses_different_resources_for_one_file() -> None:
    handler = FakeHandler(
        {
            "page.html": "{% module Template('c.html', f='a.js') %}"
            "{% module Template('c.html', f='b.js') %}",
            "c.html": "{{ set_resources(javascript_files=f) }}",
        }
    )
    with pytest.raises(ValueError, match="different resources"):
        handler.render("page.html")


def test_template_module_rejects_unknown_resource_names() -> None:
    handler = FakeHandler(
        {"page.html": "{% module Template('c.html') %}", "c.html": "{{ set_resources(js='x') }}"}
    )
    with pytest.raises(TypeError, match="unknown resources"):
        handler.render("page.html")


def test_unknown_module_name_says_which_setting_to_use() -> None:
    handler = FakeHandler({"p.html": "{% module Missing() %}"})
    with pytest.raises(AttributeError, match="ui_modules"):
        handler.render("p.html")
    with pytest.raises(KeyError):
        handler.namespace["Missing"]


def test_ui_module_base_render_must_be_overridden() -> None:
    with pytest.raises(NotImplementedError):
        UIModule(FakeHandler()).render()


def test_ui_module_sees_the_handler() -> None:
    handler = FakeHandler({"x.html": "{{ n }}"})
    module = Entry(handler)
    assert (module.request, module.locale, module.current_user) == (
        handler.request,
        "en_US",
        "ada",
    )
    assert module.ui is handler.ui
    assert module.render_string("x.html", n=3) == b"3"


# ---------- settings ----------


def test_collect_ui_modules_from_a_module_a_dict_and_a_list() -> None:
    python_module = types.ModuleType("my_modules")
    python_module.Entry = Entry  # type: ignore[attr-defined]
    python_module.helper = len  # type: ignore[attr-defined]
    python_module.UIModule = UIModule  # type: ignore[attr-defined]
    found = uimodules.collect_ui_modules([python_module, {"Other": Resources, "x": 1}])
    assert found == {"Entry": Entry, "UIModule": UIModule, "Other": Resources}
    with pytest.raises(TypeError, match="ui_modules"):
        uimodules.collect_ui_modules("Entry")


def test_collect_and_bind_ui_methods() -> None:
    python_module = types.ModuleType("my_methods")
    python_module.shout = lambda handler, text: f"{handler}:{text.upper()}"  # type: ignore[attr-defined]
    python_module._private = len  # type: ignore[attr-defined]
    python_module.Capital = len  # type: ignore[attr-defined]
    python_module.CONSTANT = 3  # type: ignore[attr-defined]
    found = uimodules.collect_ui_methods([python_module, {"twice": lambda h, x: x * 2}])
    assert sorted(found) == ["shout", "twice"]
    bound = uimodules.bind_ui_methods("H", found)
    assert bound["shout"]("hi") == "H:HI"
    with pytest.raises(TypeError, match="ui_methods"):
        uimodules.collect_ui_methods(3)


def test_template_module_resources_make_the_page_tornado_makes() -> None:
    # The page and expected bytes of Tornado's own web_test (test_uimodule_resources).
    handler = FakeHandler(
        {
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
    assert handler.render("page.html", entries=[1, 2]) == (
        b'<html><head><link href="/base.css" type="text/css" rel="stylesheet"/>'
        b'<link href="/foo.css" type="text/css" rel="stylesheet"/>\n'
        b'<style type="text/css">\n.entry { margin-bottom: 1em; }\n</style>\n'
        b"<meta>\n"
        b'</head><body>\n\n\n<div class="entry">...</div>\n\n\n<div class="entry">...</div>\n\n'
        b'<script src="/common.js" type="text/javascript"></script>\n'
        b'<script type="text/javascript">\n//<![CDATA[\njs_embed()\n//]]>\n</script>\n'
        b'<script src="/analytics.js"/>\n'
        b"</body></html>"
    )
