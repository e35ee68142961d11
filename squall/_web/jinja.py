"""Jinja2 as an explicit choice of template engine: ``Jinja2Loader``, a template loader for
``RequestHandler.render`` (the ``template_loader`` setting, or what ``create_template_loader``
returns) with the interface of ``squall.template``'s loaders.

How this works
--------------
``load(name)`` returns a :class:`Jinja2Template` whose ``generate(**names)`` renders with the
handler's template namespace and returns UTF-8 bytes, as ``squall.template`` does. The
namespace is adapted once per render: the escape helpers Tornado's templates see are added,
and what writes HTML (``xsrf_form_html``, ``linkify``, ``xhtml_escape``, the UI modules)
returns ``markupsafe.Markup``, so that Jinja2's autoescaping leaves it alone. Compiled
templates are cached by the Environment; ``reset()`` clears that cache (the handler calls it
once per request when ``compiled_template_cache`` is off), and the Environment's own
``auto_reload`` is off unless asked for, so the setting decides.

Jinja2 is imported only when a ``Jinja2Loader`` is made: applications that do not choose it
do not need it installed.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from squall import escape

if TYPE_CHECKING:
    import jinja2

__all__ = ["Jinja2Loader", "Jinja2Template"]


def _import_jinja2() -> Any:
    try:
        import jinja2
    except ImportError as exc:
        raise ImportError("Jinja2Loader needs Jinja2: pip install 'squall[templates]'") from exc
    return jinja2


class Jinja2Loader:
    """A ``template_loader`` that renders with Jinja2 instead of Tornado's language.

    ``source`` is a template folder, a Jinja2 loader (``jinja2.DictLoader(...)``, ...) or a
    whole ``jinja2.Environment`` (used as it is: its own autoescaping and options). For a
    folder or a loader, an Environment is made with ``autoescape`` (HTML escaping unless
    False) and ``options`` (``extensions=[...]``, ``trim_blocks=True``, ...)::

        app = Application(routes, template_loader=Jinja2Loader("templates"))

        # or per handler, on its template folder:
        def create_template_loader(self, template_path):
            return Jinja2Loader(template_path)

    Templates see the same names as Tornado templates: the handler's
    ``get_template_namespace()`` (``handler``, ``request``, ``current_user``, ``locale``,
    ``_``, ``pgettext``, ``static_url``, ``xsrf_form_html``, ``reverse_url``, the UI methods
    and ``modules``), ``escape``/``xhtml_escape``, ``url_escape``, ``json_encode``,
    ``squeeze``, ``linkify`` and ``datetime``. What writes HTML (``xsrf_form_html()``,
    ``linkify()``, ``xhtml_escape()``, ``modules.Name(...)``) returns markup that
    autoescaping leaves alone, so ``{{ modules.Entry(entry) }}`` is Tornado's
    ``{% module Entry(entry) %}``. A missing template raises ``FileNotFoundError`` naming it.

    Needs Jinja2 (``pip install 'squall[templates]'``); ImportError saying so otherwise."""

    def __init__(self, source: Any, autoescape: bool = True, **options: Any) -> None:
        jinja = _import_jinja2()
        if isinstance(source, jinja.Environment):
            if options:
                raise TypeError("Jinja2Loader options apply to a new Environment, not to one given")
            environment = source
        else:
            if isinstance(source, (str, os.PathLike)):
                source = jinja.FileSystemLoader(os.fspath(source))
            elif not isinstance(source, jinja.BaseLoader):
                raise TypeError(
                    "Jinja2Loader takes a template folder, a jinja2 loader or a "
                    f"jinja2.Environment, not {type(source).__name__}"
                )
            options.setdefault("auto_reload", False)  # compiled_template_cache decides
            environment = jinja.Environment(loader=source, autoescape=autoescape, **options)
        self.environment: jinja2.Environment = environment

    def __repr__(self) -> str:
        loader = self.environment.loader
        where = getattr(loader, "searchpath", None)
        return f"Jinja2Loader({where if where is not None else loader!r})"

    def load(self, name: str, parent_path: str | None = None) -> Jinja2Template:
        """The template ``name`` (compiled by Jinja2 once, then cached by its Environment)."""
        jinja = _import_jinja2()
        try:
            return Jinja2Template(self.environment.get_template(name), self)
        except jinja.TemplateNotFound as exc:
            raise self._not_found(exc, name) from exc

    def _not_found(self, exc: Any, name: str) -> FileNotFoundError:
        missing = exc.name if exc.name is not None else name
        return FileNotFoundError(
            f"Template {missing!r} not found (rendering {name!r}; {self!r}): check the name "
            "and the template folder"
        )

    def reset(self) -> None:
        """Forget the compiled templates: the next ``load`` reads the files again."""
        cache = self.environment.cache
        if cache is not None:
            cache.clear()


class Jinja2Template:
    """A Jinja2 template with the ``generate(**names) -> bytes`` of ``squall.template``."""

    def __init__(self, template: jinja2.Template, loader: Jinja2Loader) -> None:
        self.template = template
        self.name = template.name
        self._loader = loader

    def generate(self, **namespace: Any) -> bytes:
        """Render with Tornado's names (markup-safe where they write HTML); UTF-8 bytes.

        A missing included or extended template raises ``FileNotFoundError`` naming it."""
        jinja = _import_jinja2()
        try:
            text = self.template.render(_jinja2_namespace(namespace))
        except jinja.TemplateNotFound as exc:
            raise self._loader._not_found(exc, self.name or "<template>") from exc
        return text.encode("utf-8")


def _jinja2_namespace(namespace: dict[str, Any]) -> dict[str, Any]:
    from markupsafe import Markup  # installed with Jinja2

    def xhtml_escape(value: Any) -> Markup:
        return Markup(escape.xhtml_escape(value))

    def linkify(text: str | bytes, *args: Any, **kwargs: Any) -> Markup:
        return Markup(escape.linkify(text, *args, **kwargs))

    names: dict[str, Any] = {
        "escape": xhtml_escape,
        "xhtml_escape": xhtml_escape,
        "url_escape": escape.url_escape,
        "json_encode": escape.json_encode,
        "squeeze": escape.squeeze,
        "linkify": linkify,
        "datetime": datetime,
    }
    names.update(namespace)
    form_html = names.get("xsrf_form_html")
    if callable(form_html):
        names["xsrf_form_html"] = lambda: Markup(form_html())
    modules = names.get("_tt_modules")
    if modules is not None:
        markup_modules = _MarkupModules(modules, Markup)
        if names.get("modules") is modules:
            names["modules"] = markup_modules
        names["_tt_modules"] = markup_modules
    return names


class _MarkupModules:
    """The UI-module namespace for Jinja2: each module's HTML comes back as markup."""

    def __init__(self, modules: Any, markup: Callable[[str], str]) -> None:
        self._modules = modules
        self._markup = markup

    def __getattr__(self, name: str) -> Callable[..., str]:
        if name.startswith("__"):
            raise AttributeError(name)
        render = getattr(self._modules, name)
        return lambda *args, **kwargs: self._markup(render(*args, **kwargs))

    def __getitem__(self, name: str) -> Callable[..., str]:
        render = self._modules[name]
        return lambda *args, **kwargs: self._markup(render(*args, **kwargs))
