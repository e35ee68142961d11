"""UI modules: ``UIModule``, the built-in ``Template``, ``linkify`` and ``xsrf_form_html``
modules, and the per-handler namespace that templates reach as ``{% module Name(...) %}``.

A UI module is a reusable piece of a page with its own CSS and JavaScript. A handler builds
one ``UIModuleNamespace`` (``_tt_modules`` and ``modules`` in the template namespace); the
first use of a module name on a page creates that module's instance, and every later use on
the same page reuses it, so a module's CSS and JavaScript are collected once per page
(``render_assets.collect_assets`` reads them from ``namespace.active``).

The handler is duck-typed here (``request``, ``ui``, ``locale``, ``current_user``,
``render_string``, ``xsrf_form_html``): nothing in this module imports the rest of ``_web``.
``collect_ui_modules``/``collect_ui_methods`` normalize the ``ui_modules``/``ui_methods``
settings (a module, a list of them, or a dict) as Tornado's ``Application`` does."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from typing import Any

from squall import escape

__all__ = [
    "DEFAULT_UI_MODULES",
    "TemplateModule",
    "UIModule",
    "UIModuleNamespace",
    "active_modules",
    "bind_ui_methods",
    "collect_ui_methods",
    "collect_ui_modules",
    "handler_ui",
]


class UIModule:
    """A reusable, modular piece of a page, rendered with ``{% module Name(args) %}``.

    Subclasses override ``render``. The CSS and JavaScript methods may return what the page
    needs; ``RequestHandler.render`` puts it in the page once, however many times the module
    is used: ``javascript_files``/``css_files`` (relative paths go through ``static_url``,
    absolute paths and URLs are used as they are) before ``</body>``/``</head>``,
    ``embedded_javascript``/``embedded_css`` in ``<script>``/``<style>`` blocks there, and
    ``html_head``/``html_body`` as raw HTML at the end of ``<head>`` and ``<body>``."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.request = handler.request
        self.ui = handler.ui
        self.locale = handler.locale

    @property
    def current_user(self) -> Any:
        """The handler's ``current_user``."""
        return self.handler.current_user

    def render(self, *args: Any, **kwargs: Any) -> str | bytes:
        """The module's HTML for these arguments (written unescaped)."""
        raise NotImplementedError()

    def embedded_javascript(self) -> str | None:
        """JavaScript to embed in the page, or None."""
        return None

    def javascript_files(self) -> Iterable[str] | None:
        """JavaScript files the page should load (one path or a list), or None."""
        return None

    def embedded_css(self) -> str | None:
        """CSS to embed in the page, or None."""
        return None

    def css_files(self) -> Iterable[str] | None:
        """CSS files the page should link (one path or a list), or None."""
        return None

    def html_head(self) -> str | None:
        """HTML to put at the end of ``<head>``, or None."""
        return None

    def html_body(self) -> str | None:
        """HTML to put at the end of ``<body>``, or None."""
        return None

    def render_string(self, path: str, **kwargs: Any) -> bytes:
        """Render the template ``path`` through the handler (``RequestHandler.render_string``)."""
        return self.handler.render_string(path, **kwargs)  # type: ignore[no-any-return]


class _Linkify(UIModule):
    """``{% module linkify(text) %}``: ``escape.linkify`` as a module."""

    def render(self, text: str | bytes, **kwargs: Any) -> str:
        return escape.linkify(text, **kwargs)


class _XSRFFormHTML(UIModule):
    """``{% module xsrf_form_html() %}``: the handler's hidden XSRF form field."""

    def render(self) -> str:
        return self.handler.xsrf_form_html()  # type: ignore[no-any-return]


class TemplateModule(UIModule):
    """``{% module Template("foo.html", **kwargs) %}``: renders a template in a namespace of
    its own (the handler's template namespace and ``kwargs``), where ``{% include %}`` would
    share the including template's variables.

    The template may declare CSS and JavaScript for the page with ``set_resources``, using
    the keyword names of ``UIModule``'s methods::

        {{ set_resources(javascript_files="chart.js", embedded_css=".chart { width: 100% }") }}

    Resources are kept once per template file, not per use, so they must not depend on the
    template's arguments; declaring different ones for the same file raises ValueError."""

    _KEYS = frozenset(
        {
            "embedded_javascript",
            "javascript_files",
            "embedded_css",
            "css_files",
            "html_head",
            "html_body",
        }
    )

    def __init__(self, handler: Any) -> None:
        super().__init__(handler)
        self._resource_list: list[dict[str, Any]] = []
        self._resource_dict: dict[str, dict[str, Any]] = {}

    def render(self, path: str, **kwargs: Any) -> bytes:
        def set_resources(**resources: Any) -> str:
            unknown = set(resources) - self._KEYS
            if unknown:
                raise TypeError(
                    f"set_resources() got unknown resources {sorted(unknown)}: use "
                    f"{', '.join(sorted(self._KEYS))}"
                )
            known = self._resource_dict.get(path)
            if known is None:
                self._resource_list.append(resources)
                self._resource_dict[path] = resources
            elif known != resources:
                raise ValueError(
                    f"set_resources called with different resources for the same template {path!r}"
                )
            return ""

        return self.render_string(path, set_resources=set_resources, **kwargs)

    def _resources(self, key: str) -> list[Any]:
        return [resources[key] for resources in self._resource_list if key in resources]

    def _files(self, key: str) -> list[str]:
        files: list[str] = []
        for value in self._resources(key):
            if isinstance(value, (str, bytes)):
                files.append(escape.to_unicode(value))
            else:
                files.extend(value)
        return files

    def embedded_javascript(self) -> str:
        return "\n".join(self._resources("embedded_javascript"))

    def javascript_files(self) -> list[str]:
        return self._files("javascript_files")

    def embedded_css(self) -> str:
        return "\n".join(self._resources("embedded_css"))

    def css_files(self) -> list[str]:
        return self._files("css_files")

    def html_head(self) -> str:
        return "".join(self._resources("html_head"))

    def html_body(self) -> str:
        return "".join(self._resources("html_body"))


#: The modules every application has (an application's own ``ui_modules`` come after).
DEFAULT_UI_MODULES: dict[str, type[UIModule]] = {
    "linkify": _Linkify,
    "xsrf_form_html": _XSRFFormHTML,
    "Template": TemplateModule,
}


class UIModuleNamespace:
    """The ``_tt_modules`` (and ``modules``) object of one handler's templates.

    ``namespace.Name(*args)`` renders module ``Name``, creating its instance on first use;
    ``active`` holds the instances in order of first use, for the page's CSS and JS.
    An unknown name raises AttributeError (KeyError through ``namespace["Name"]``)."""

    def __init__(self, handler: Any, ui_modules: dict[str, type[UIModule]]) -> None:
        self.handler = handler
        self.ui_modules = ui_modules
        self.active: dict[str, UIModule] = {}

    def __getitem__(self, name: str) -> Callable[..., str]:
        module_class = self.ui_modules[name]

        def render(*args: Any, **kwargs: Any) -> str:
            module = self.active.get(name)
            if module is None:
                module = self.active[name] = module_class(self.handler)
            rendered = module.render(*args, **kwargs)
            return rendered if isinstance(rendered, str) else escape.to_unicode(rendered)

        return render

    def __getattr__(self, name: str) -> Callable[..., str]:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"no UI module named {name!r}: add it to the 'ui_modules' setting"
            ) from None


def handler_ui(
    handler: Any, ui_methods: dict[str, Callable[..., Any]], ui_modules: dict[str, type[UIModule]]
) -> dict[str, Any]:
    """A handler's ``ui``: its bound UI methods, and its module namespace as ``_tt_modules``
    and ``modules`` (the names templates use for ``{% module %}``)."""
    ui = bind_ui_methods(handler, ui_methods)
    ui["_tt_modules"] = ui["modules"] = UIModuleNamespace(handler, ui_modules)
    return ui


def active_modules(ui: dict[str, Any] | None) -> list[UIModule]:
    """The UI modules a page used, in order of first use (none if ``ui`` was never built)."""
    if not ui:
        return []
    namespace = ui.get("_tt_modules")
    active: dict[str, UIModule] | None = getattr(namespace, "active", None)
    return list(active.values()) if active else []


def bind_ui_methods(handler: Any, ui_methods: dict[str, Callable[..., Any]]) -> dict[str, Any]:
    """The ``ui_methods`` as the template sees them: each called with the handler first."""

    def bind(method: Callable[..., Any]) -> Callable[..., Any]:
        return lambda *args, **kwargs: method(handler, *args, **kwargs)

    return {name: bind(method) for name, method in ui_methods.items()}


def collect_ui_modules(
    setting: Any, into: dict[str, type[UIModule]] | None = None
) -> dict[str, Any]:
    """The ``UIModule`` subclasses named by the ``ui_modules`` setting: a Python module (its
    ``UIModule`` subclasses by name), a dict of them, or a list of either."""
    found: dict[str, type[UIModule]] = {} if into is None else into
    if isinstance(setting, types.ModuleType):
        collect_ui_modules({name: getattr(setting, name) for name in dir(setting)}, found)
    elif isinstance(setting, (list, tuple)):
        for item in setting:
            collect_ui_modules(item, found)
    elif isinstance(setting, dict):
        for name, value in setting.items():
            if isinstance(value, type) and issubclass(value, UIModule):
                found[name] = value
    else:
        raise TypeError(
            f"ui_modules must be a module, a dict or a list of them, not {type(setting).__name__}"
        )
    return found


def collect_ui_methods(
    setting: Any, into: dict[str, Callable[..., Any]] | None = None
) -> dict[str, Callable[..., Any]]:
    """The functions named by the ``ui_methods`` setting: a Python module (its public
    functions whose names start in lower case), a dict of them, or a list of either."""
    found: dict[str, Callable[..., Any]] = {} if into is None else into
    if isinstance(setting, types.ModuleType):
        collect_ui_methods({name: getattr(setting, name) for name in dir(setting)}, found)
    elif isinstance(setting, (list, tuple)):
        for item in setting:
            collect_ui_methods(item, found)
    elif isinstance(setting, dict):
        for name, value in setting.items():
            if not name.startswith("_") and callable(value) and name[0].lower() == name[0]:
                found[name] = value
    else:
        raise TypeError(
            f"ui_methods must be a module, a dict or a list of them, not {type(setting).__name__}"
        )
    return found
