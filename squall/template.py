"""Tornado's template language: templates compiled to Python, with Tornado's interface.

Basic use::

    t = Template("<html>{{ myvalue }}</html>")
    t.generate(myvalue="XXX")            # b"<html>XXX</html>"

    loader = Loader("/home/app/templates")
    loader.load("page.html").generate(items=items)

Syntax (the whole of Tornado 6's language):

- ``{{ expr }}``: any Python expression; its value (str, bytes, or anything ``str()`` can
  turn into text) is escaped with the autoescape function, ``xhtml_escape`` by default.
  ``{% raw expr %}`` writes it unescaped.
- ``{# comment #}`` and ``{% comment text %}`` are dropped.
- ``{{!``, ``{%!`` and ``{#!`` write ``{{``, ``{%`` and ``{#`` literally.
- ``{% if %}``/``{% elif %}``/``{% else %}``, ``{% for x in y %}``, ``{% while %}``,
  ``{% try %}``/``{% except %}``/``{% else %}``/``{% finally %}``, each closed by
  ``{% end %}``; ``{% break %}`` and ``{% continue %}`` inside loops.
- ``{% set x = y %}``, ``{% import m %}``, ``{% from m import n %}``: Python statements.
- ``{% block name %}...{% end %}`` and ``{% extends "base.html" %}``: a template that extends
  another renders the other, with the blocks it defines replacing the parent's (anything it
  has outside blocks is ignored).
- ``{% include "file.html" %}``: the other file's code, inlined, sees the same variables.
- ``{% apply func %}...{% end %}``: ``func`` is called on the output between the tags (as
  UTF-8 bytes); the body runs as a nested function, so ``{% set %}`` inside it stays inside,
  and ``{% break %}``/``{% continue %}`` cannot reach a loop outside it.
- ``{% autoescape func %}`` / ``{% autoescape None %}``: the escaping of this file (not of the
  files it includes or extends); custom functions receive UTF-8 bytes.
- ``{% module expr %}``: writes ``_tt_modules.expr`` unescaped (UI modules, given by
  ``RequestHandler.render``).
- ``{% whitespace all|single|oneline %}``: the whitespace mode for the rest of the file
  (see ``filter_whitespace``). The default is ``single`` for names ending in ``.html`` or
  ``.js`` and ``all`` otherwise, unless the loader or ``Template`` says otherwise.

Every template sees ``escape``/``xhtml_escape``, ``url_escape``, ``json_encode``,
``squeeze``, ``linkify`` and ``datetime``, then the loader's ``namespace``, then the
``generate`` arguments. Names starting with ``_tt_`` are reserved.

Errors: a malformed template raises ``ParseError`` naming the file and line, when it is
compiled (at ``Template()``/``load()``), including invalid Python inside a tag. An exception
while a template runs shows the generated code in its traceback, each line ending with
``# file.html:LINE (via including.html:LINE)``.

Compiled templates are cached by their loader (thread-safe); ``reset()`` empties the cache.
"""

from __future__ import annotations

import builtins
import linecache
import os
import posixpath
import threading
import types
import weakref
from typing import Any, Final

from squall import escape
from squall._template.codegen import Origin, Source, generate_code
from squall._template.errors import ParseError
from squall._template.parse import WHITESPACE_MODES, filter_whitespace, parse
from squall._template.runtime import DEFAULT_NAMESPACE, to_bytes

__all__ = [
    "BaseLoader",
    "DictLoader",
    "Loader",
    "ParseError",
    "Template",
    "filter_whitespace",
]

_DEFAULT_AUTOESCAPE: Final = "xhtml_escape"


class _UnsetMarker:
    def __repr__(self) -> str:
        return "_UNSET"


#: Marks an argument that was not given (``None`` means "no escaping" for ``autoescape``).
_UNSET: Final[Any] = _UnsetMarker()


class Template:
    """A compiled template.

    ``template_string`` is str or UTF-8 bytes. ``name`` names it in errors and tracebacks
    (and, for a loader, resolves relative ``include``/``extends`` paths). ``autoescape`` is
    the name of a function in the namespace, or None for no escaping; by default the
    loader's, else ``"xhtml_escape"``. ``whitespace`` is ``"all"``, ``"single"`` or
    ``"oneline"``; by default the loader's, else chosen from the name's extension.
    ``compress_whitespace`` is the old spelling (True means ``"single"``, False ``"all"``);
    giving both raises ValueError.

    Compiles at once: a malformed template raises ``ParseError``. The Python source is
    ``.code``, the compiled module ``.compiled``."""

    def __init__(
        self,
        template_string: str | bytes,
        name: str = "<string>",
        loader: BaseLoader | None = None,
        compress_whitespace: bool | Any = _UNSET,
        autoescape: str | None | Any = _UNSET,
        whitespace: str | None = None,
    ) -> None:
        self.name = name
        self.loader = loader
        if compress_whitespace is not _UNSET:
            if whitespace is not None:
                raise ValueError("cannot set both whitespace and compress_whitespace")
            whitespace = "single" if compress_whitespace else "all"
        if whitespace is None:
            if loader is not None and loader.whitespace:
                whitespace = loader.whitespace
            else:
                whitespace = "single" if name.endswith((".html", ".js")) else "all"
        if whitespace not in WHITESPACE_MODES:
            raise ValueError(
                f"invalid whitespace mode {whitespace}: use 'all', 'single' or 'oneline'"
            )
        if autoescape is not _UNSET:
            self.autoescape: str | None = autoescape
        elif loader is not None:
            self.autoescape = loader.autoescape
        else:
            self.autoescape = _DEFAULT_AUTOESCAPE
        self.namespace: dict[str, Any] = loader.namespace if loader is not None else {}
        text = escape.to_unicode(template_string)
        parsed = parse(text, name, whitespace)
        if parsed.has_autoescape:
            self.autoescape = parsed.autoescape
        self._source = Source(parsed, self.autoescape)
        load = loader._source_for if loader is not None else None
        self.code, self._origins = generate_code(self._source, load)
        self._filename = _register_source(name, self.code)
        weakref.finalize(self, _release_source, self._filename)
        self.compiled = self._compile()
        self._function = _function_code(self.compiled)
        self._globals = {
            **DEFAULT_NAMESPACE,
            "__builtins__": builtins,
            "__name__": name.replace(".", "_"),
            "__loader__": _CodeSource(self.code),
        }

    def _compile(self) -> types.CodeType:
        try:
            return compile(self.code, self._filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            lineno = getattr(exc, "lineno", None)
            if lineno is None:  # a NUL or an unencodable character: find its line
                lineno = next(
                    (n for n, text in enumerate(self.code.split("\n"), 1) if not _compilable(text)),
                    None,
                )
            origin = Origin(self.name, 0)
            if isinstance(lineno, int) and 0 < lineno <= len(self._origins):
                # The nearest line that came from a tag (the function's own lines say 0).
                for candidate in reversed(self._origins[:lineno]):
                    if candidate.line:
                        origin = candidate
                        break
            reason = getattr(exc, "msg", None) or str(exc)
            raise ParseError(
                f"invalid Python in template: {reason}", origin.name, origin.line
            ) from None

    def generate(self, **kwargs: Any) -> bytes:
        """Render the template with ``kwargs`` as variables; returns UTF-8 bytes.

        Exceptions raised by the template's code propagate; their traceback shows the
        generated line with its ``# name:line`` comment."""
        namespace = self._globals.copy()
        if self.namespace:  # read at each render, as Tornado does: a loader's may change
            namespace.update(self.namespace)
        namespace.update(kwargs)
        execute = types.FunctionType(self._function, namespace, "_tt_execute")
        return to_bytes(execute())


def _compilable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _CodeSource:
    """The ``__loader__`` of a template's globals: lets ``linecache`` find the generated
    source again if its cache was cleared (traceback printing asks for it)."""

    def __init__(self, code: str) -> None:
        self._code = code

    def get_source(self, name: str) -> str:
        return self._code


def _function_code(module: types.CodeType) -> types.CodeType:
    for const in module.co_consts:
        if isinstance(const, types.CodeType) and const.co_name == "_tt_execute":
            return const
    raise RuntimeError("generated template code has no _tt_execute function")  # our own bug


# ---------- generated source in linecache, so tracebacks show it ----------

_sources_lock = threading.Lock()
_sources: dict[str, tuple[str, int]] = {}  # file name -> (code, live templates using it)
# File names of collected templates. Their finalizers only append here (they may run inside
# the garbage collector, even while this thread holds the lock); registration drains it.
_released: list[str] = []


def _register_source(name: str, code: str) -> str:
    """A file name for ``code`` that no other live template uses with other code, with the
    code registered in ``linecache`` under it."""
    with _sources_lock:
        _drain_released()
        serial = 0
        while True:
            filename = f"{name}.generated.py" if serial == 0 else f"{name}.generated.{serial}.py"
            entry = _sources.get(filename)
            if entry is None or entry[0] == code:
                break
            serial += 1
        users = entry[1] + 1 if entry is not None else 1
        _sources[filename] = (code, users)
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    return filename


def _release_source(filename: str) -> None:
    _released.append(filename)


def _drain_released() -> None:
    while _released:
        filename = _released.pop()
        entry = _sources.get(filename)
        if entry is None:
            continue
        if entry[1] > 1:
            _sources[filename] = (entry[0], entry[1] - 1)
        else:
            del _sources[filename]
            linecache.cache.pop(filename, None)


# ---------- loaders ----------


class BaseLoader:
    """Base class for template loaders: loads, compiles and caches templates by name.

    A loader is needed for ``{% extends %}`` and ``{% include %}``. ``autoescape`` is the
    default escaping function's name for its templates (None for none); ``namespace`` is a
    dict added to every template's namespace; ``whitespace`` the default whitespace mode
    (None: by file extension). Subclasses implement ``_create_template(name)``. Loading is
    thread-safe: one lock per loader; a template is compiled once."""

    def __init__(
        self,
        autoescape: str | None = _DEFAULT_AUTOESCAPE,
        namespace: dict[str, Any] | None = None,
        whitespace: str | None = None,
    ) -> None:
        if whitespace is not None and whitespace not in WHITESPACE_MODES:
            raise ValueError(
                f"invalid whitespace mode {whitespace}: use 'all', 'single' or 'oneline'"
            )
        self.autoescape = autoescape
        self.namespace = namespace or {}
        self.whitespace = whitespace
        self.templates: dict[str, Template] = {}
        # Reentrant: compiling a template loads the templates it includes and extends.
        self.lock = threading.RLock()
        self._loading: list[str] = []

    def reset(self) -> None:
        """Forget every compiled template; the next ``load`` reads and compiles again."""
        with self.lock:
            self.templates = {}

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        """The cache key of ``name`` as loaded from ``parent_path`` (relative paths resolved
        against the parent's folder)."""
        raise NotImplementedError()

    def load(self, name: str, parent_path: str | None = None) -> Template:
        """The compiled template ``name`` (relative to ``parent_path`` if given)."""
        name = self.resolve_path(name, parent_path=parent_path)
        with self.lock:
            template = self.templates.get(name)
            if template is None:
                if name in self._loading:
                    cycle = " -> ".join([*self._loading, name])
                    raise ParseError(f"templates include or extend each other: {cycle}")
                self._loading.append(name)
                try:
                    template = self._create_template(name)
                finally:
                    self._loading.pop()
                self.templates[name] = template
            return template

    def _create_template(self, name: str) -> Template:
        raise NotImplementedError()

    def _source_for(self, name: str, parent_path: str) -> Source:
        return self.load(name, parent_path)._source


class Loader(BaseLoader):
    """Loads templates from files under ``root_directory``.

    Names are paths relative to the root; ``include``/``extends`` paths are relative to the
    including file's folder when they stay inside the root. The keyword arguments are
    ``BaseLoader``'s. A missing file raises ``FileNotFoundError``."""

    def __init__(self, root_directory: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = os.path.abspath(root_directory)

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        if (
            parent_path
            and not parent_path.startswith(("<", "/"))
            and not name.startswith("/")
            and not os.path.isabs(parent_path)
        ):
            folder = os.path.dirname(os.path.abspath(os.path.join(self.root, parent_path)))
            resolved = os.path.abspath(os.path.join(folder, name))
            if resolved.startswith(self.root + os.sep):
                name = resolved[len(self.root) + 1 :]
        return name

    def _create_template(self, name: str) -> Template:
        path = os.path.join(self.root, name)
        with open(path, "rb") as f:
            return Template(f.read(), name=name, loader=self)


class DictLoader(BaseLoader):
    """Loads templates from a dict of ``{name: template text}``.

    Names are ``/``-separated; relative ``include``/``extends`` paths are resolved against
    the including template's folder (``"../b/x.html"`` from ``"a/y.html"`` is ``"b/x.html"``).
    A missing name raises ``KeyError``."""

    def __init__(self, dict: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dict = dict

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        if parent_path and not parent_path.startswith(("<", "/")) and not name.startswith("/"):
            folder = posixpath.dirname(parent_path)
            name = posixpath.normpath(posixpath.join(folder, name))
        return name

    def _create_template(self, name: str) -> Template:
        return Template(self.dict[name], name=name, loader=self)
