"""A parsed template (with its ancestors and includes) -> the source of one Python function.

The function is ``_tt_execute()``: it appends ``str`` pieces to a local list and returns them
joined. ``{% extends %}`` and ``{% include %}`` are inlined: the output is the root ancestor's
tree, where each ``{% block %}`` takes the body of the most derived template that defines that
block, and each include the included file's tree. Every generated line ends with a comment
``# file:line`` (``(via parent:line, ...)`` when the code came through an include or a block
of another file), and ``origins`` maps each generated line to that position, so the caller can
turn a Python ``SyntaxError`` into a ``ParseError`` on the template line. ``{% apply %}``
bodies become nested functions.

Template names are resolved through ``load(name, parent_name)``, which returns the included or
extended template's ``Source`` (its tree and its autoescape setting)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from squall._template.errors import ParseError
from squall._template.parse import (
    Apply,
    Block,
    Control,
    Expr,
    Include,
    Node,
    ParsedFile,
    Stmt,
    Text,
)

__all__ = ["Origin", "Source", "generate_code"]

# Autoescape names served by the str fast path when they are squall's own xhtml_escape.
_FAST_ESCAPES = ("xhtml_escape", "escape")


@dataclass(slots=True, frozen=True)
class Origin:
    """Where a generated line came from: file, line, and the include/block path to it."""

    name: str
    line: int
    via: tuple[tuple[str, int], ...] = ()

    def label(self) -> str:
        if not self.via:
            return f"{self.name}:{self.line}"
        path = ", ".join(f"{name}:{line}" for name, line in reversed(self.via))
        return f"{self.name}:{self.line} (via {path})"


@dataclass(slots=True)
class Source:
    """One template file as code generation needs it."""

    file: ParsedFile
    autoescape: str | None


Loader = Callable[[str, str], Source]


@dataclass(slots=True)
class _Scope:
    """One generated function (``_tt_execute`` or an apply body) and the helpers it uses."""

    preamble_at: int
    indent: int
    origin: Origin
    helpers: dict[str, str] = field(default_factory=dict)


def generate_code(top: Source, load: Loader | None) -> tuple[str, list[Origin]]:
    """The Python source of ``_tt_execute`` for ``top``, and each line's template origin."""
    return _Generator(top, load).run()


class _Generator:
    def __init__(self, top: Source, load: Loader | None) -> None:
        self.top = top
        self._load = load
        self.lines: list[str] = []
        self.origins: list[Origin] = []
        self.indent = 0
        self.scopes: list[_Scope] = []
        self.blocks: dict[str, tuple[Block, Source]] = {}
        self.active: list[str] = []  # the include and block path being generated
        self.apply_count = 0

    # ---------- loading ----------

    def load(self, name: str, parent: ParsedFile, line: int, what: str) -> Source:
        if self._load is None:
            raise ParseError(
                f"{{% {what} %}} needs a template loader: load this template through a "
                f"Loader or DictLoader",
                parent.name,
                line,
            )
        try:
            return self._load(name, parent.name)
        except ParseError as exc:
            if exc.filename is None:
                raise ParseError(exc.message, parent.name, line) from None
            raise
        except (OSError, KeyError) as exc:
            raise ParseError(f"cannot load {what} {name!r}: {exc!r}", parent.name, line) from exc

    def ancestors(self) -> list[Source]:
        chain = [self.top]
        names = [self.top.file.name]
        while chain[-1].file.extends is not None:
            child = chain[-1].file
            parent = self.load(child.extends or "", child, child.extends_line, "extends")
            if parent.file.name in names:
                cycle = " -> ".join([*names, parent.file.name])
                raise ParseError(f"templates extend each other: {cycle}", child.name, 0)
            names.append(parent.file.name)
            chain.append(parent)
        return chain

    def collect_blocks(self, source: Source, seen: set[str]) -> None:
        if source.file.name in seen:
            return
        seen.add(source.file.name)
        for block in source.file.blocks:
            self.blocks[block.name] = (block, source)
        for include in source.file.includes:
            included = self.load(include.name, source.file, include.line, "include")
            self.collect_blocks(included, seen)

    # ---------- writing ----------

    def write(self, code: str, origin: Origin) -> None:
        physical = ("    " * self.indent + code).split("\n")
        physical[-1] += "  # " + origin.label()
        self.lines.extend(physical)
        self.origins.extend([origin] * len(physical))

    def open_function(self, header: str, origin: Origin) -> None:
        self.write(header, origin)
        self.indent += 1
        self.write("_tt_buffer = []", origin)
        self.write("_tt_append = _tt_buffer.append", origin)
        self.scopes.append(_Scope(len(self.lines), self.indent, origin))

    def close_function(self) -> None:
        scope = self.scopes.pop()
        self.write("return ''.join(_tt_buffer)", scope.origin)
        self.indent -= 1
        prefix = "    " * scope.indent
        preamble = [f"{prefix}{local} = {value}" for local, value in scope.helpers.items()]
        label = "  # " + scope.origin.label()
        self.lines[scope.preamble_at : scope.preamble_at] = [line + label for line in preamble]
        self.origins[scope.preamble_at : scope.preamble_at] = [scope.origin] * len(preamble)

    def helper(self, local: str, value: str) -> str:
        self.scopes[-1].helpers.setdefault(local, value)
        return local

    # ---------- nodes ----------

    def run(self) -> tuple[str, list[Origin]]:
        chain = self.ancestors()
        seen: set[str] = set()
        for source in reversed(chain):  # the root first: the most derived definition wins
            self.collect_blocks(source, seen)
        root = chain[-1]
        self.active.append(root.file.name)
        self.open_function("def _tt_execute():", Origin(self.top.file.name, 0))
        self.nodes(root.file.nodes, root, ())
        self.close_function()
        return "\n".join(self.lines) + "\n", self.origins

    def nodes(self, nodes: list[Node], source: Source, via: tuple[tuple[str, int], ...]) -> None:
        name = source.file.name
        for node in nodes:
            if isinstance(node, Text):
                self.write(f"_tt_append({node.value!r})", Origin(name, node.line, via))
            elif isinstance(node, Expr):
                self.expression(node, source, Origin(name, node.line, via))
            elif isinstance(node, Stmt):
                self.write(node.code, Origin(name, node.line, via))
            elif isinstance(node, Control):
                self.control(node, source, via)
            elif isinstance(node, Block):
                self.block(node, source, via)
            elif isinstance(node, Apply):
                self.apply(node, source, via)
            elif isinstance(node, Include):
                self.include(node, source, via)

    def expression(self, node: Expr, source: Source, origin: Origin) -> None:
        escape = None if node.raw else source.autoescape
        if escape is None:
            wrap = self.helper("_tt_str", "_tt_to_str") + "({})"
        elif escape in _FAST_ESCAPES:
            wrap = self.helper(f"_tt_esc_{escape}", f"_tt_escaper({escape})") + "({})"
        else:
            wrap = f"_tt_custom_escape({escape}, {{}})"
        if "#" in node.code:  # a comment in the expression would swallow the closing parens
            self.write(f"_tt_tmp = {node.code}", origin)
            self.write("_tt_append(" + wrap.format("_tt_tmp") + ")", origin)
        else:
            self.write("_tt_append(" + wrap.format(node.code) + ")", origin)

    def control(self, node: Control, source: Source, via: tuple[tuple[str, int], ...]) -> None:
        for clause in node.clauses:
            origin = Origin(source.file.name, clause.line, via)
            self.write(clause.head + ":", origin)
            self.indent += 1
            before = len(self.lines)
            self.nodes(clause.body, source, via)
            if len(self.lines) == before:
                self.write("pass", origin)
            self.indent -= 1

    def block(self, node: Block, source: Source, via: tuple[tuple[str, int], ...]) -> None:
        block, defined_in = self.blocks.get(node.name, (node, source))
        key = f"block {node.name}"
        if key in self.active:
            raise ParseError(f"block {node.name} contains itself", source.file.name, node.line)
        if defined_in is not source:
            via = (*via, (source.file.name, node.line))
        self.active.append(key)
        self.nodes(block.body, defined_in, via)
        self.active.pop()

    def apply(self, node: Apply, source: Source, via: tuple[tuple[str, int], ...]) -> None:
        origin = Origin(source.file.name, node.line, via)
        self.apply_count += 1
        function = f"_tt_apply{self.apply_count}"
        self.open_function(f"def {function}():", origin)
        self.nodes(node.body, source, via)
        self.close_function()
        self.write(f"_tt_append(_tt_applied({node.func}, {function}()))", origin)

    def include(self, node: Include, source: Source, via: tuple[tuple[str, int], ...]) -> None:
        included = self.load(node.name, source.file, node.line, "include")
        name = included.file.name
        if name in self.active:
            cycle = " -> ".join([*(n for n in self.active if not n.startswith("block ")), name])
            raise ParseError(f"templates include each other: {cycle}", source.file.name, node.line)
        self.active.append(name)
        self.nodes(included.file.nodes, included, (*via, (source.file.name, node.line)))
        self.active.pop()
