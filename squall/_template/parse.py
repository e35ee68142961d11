"""Template text -> a tree of nodes: the syntax of Tornado's template language.

Tags: ``{{ expr }}``, ``{% directive ... %}``, ``{# comment #}``; ``{{!``, ``{%!`` and ``{#!``
write the two characters literally. Every malformed tag raises ``ParseError`` with the file
and the line where the tag starts. Text between tags is filtered by the whitespace mode in
force at that point (``{% whitespace %}`` changes it for the rest of the file); a text chunk
that contains ``<pre>`` is kept as written.

The tree is plain data; ``codegen.py`` turns it into Python."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from squall._template.errors import ParseError

__all__ = [
    "Apply",
    "Block",
    "Clause",
    "Control",
    "Expr",
    "Include",
    "Node",
    "ParsedFile",
    "Stmt",
    "Text",
    "filter_whitespace",
    "parse",
]

WHITESPACE_MODES: Final = ("all", "single", "oneline")
_SPACES_RE: Final = re.compile(r"[\t ]+")
_NEWLINE_RUN_RE: Final = re.compile(r"\s*\n\s*")
_ANY_SPACE_RE: Final = re.compile(r"\s+")
_TAG_START_RE: Final = re.compile(r"\{[{%#]")
_DIRECTIVE_RE: Final = re.compile(r"(\S+)\s*(.*)", re.DOTALL)


def filter_whitespace(mode: str, text: str) -> str:
    """Transform the whitespace of ``text`` according to ``mode``.

    ``"all"`` keeps it unchanged; ``"single"`` collapses each run of whitespace to one
    character, a newline if the run held one, else a space; ``"oneline"`` collapses every run,
    newlines included, to one space. Any other mode raises ValueError."""
    if mode == "all":
        return text
    if mode == "single":
        return _NEWLINE_RUN_RE.sub("\n", _SPACES_RE.sub(" ", text))
    if mode == "oneline":
        return _ANY_SPACE_RE.sub(" ", text)
    raise ValueError(f"invalid whitespace mode {mode}: use 'all', 'single' or 'oneline'")


# ---------- the tree ----------


@dataclass(slots=True)
class Text:
    """Literal output (already whitespace-filtered)."""

    value: str
    line: int


@dataclass(slots=True)
class Expr:
    """``{{ code }}`` (escaped unless ``raw``), ``{% raw code %}``, ``{% module code %}``."""

    code: str
    line: int
    raw: bool


@dataclass(slots=True)
class Stmt:
    """A Python statement: ``{% set %}``, ``{% import %}``, ``{% from %}``, break/continue."""

    code: str
    line: int


@dataclass(slots=True)
class Clause:
    """One clause of a control block: its header (``if x``, ``else``) and its body."""

    head: str
    line: int
    body: list[Node]


@dataclass(slots=True)
class Control:
    """``{% if/for/while/try %}`` with its ``elif/else/except/finally`` clauses."""

    clauses: list[Clause]


@dataclass(slots=True)
class Block:
    """``{% block name %}...{% end %}``: replaceable by templates that extend this one."""

    name: str
    line: int
    body: list[Node]


@dataclass(slots=True)
class Apply:
    """``{% apply func %}...{% end %}``: ``func`` is called on the body's output."""

    func: str
    line: int
    body: list[Node]


@dataclass(slots=True)
class Include:
    """``{% include "name" %}``: the named template's code, inlined here."""

    name: str
    line: int


Node = Text | Expr | Stmt | Control | Block | Apply | Include


@dataclass(slots=True)
class ParsedFile:
    """One template file's tree and the file-level directives found in it."""

    name: str
    nodes: list[Node]
    extends: str | None = None
    extends_line: int = 0
    # The {% autoescape %} directive's value: a function name, or None to turn escaping off;
    # has_autoescape says whether the file has one at all.
    autoescape: str | None = None
    has_autoescape: bool = False
    blocks: list[Block] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)


# ---------- the parser ----------

_CONTROL: Final = frozenset({"if", "for", "while", "try"})
_CLAUSES: Final = {
    "else": frozenset({"if", "for", "while", "try"}),
    "elif": frozenset({"if"}),
    "except": frozenset({"try"}),
    "finally": frozenset({"try"}),
}


@dataclass(slots=True)
class _Context:
    op: str | None  # the open block's directive; None at the top level
    line: int
    in_loop: bool


def parse(text: str, name: str, whitespace: str) -> ParsedFile:
    """Parse a template's text; ``whitespace`` is the mode in force at its start."""
    parser = _Parser(text, name, whitespace)
    nodes, _ = parser.nodes(_Context(None, 0, False))
    return parser.file_with(nodes)


class _Parser:
    def __init__(self, text: str, name: str, whitespace: str) -> None:
        self.text = text
        self.name = name
        self.whitespace = whitespace
        self.pos = 0
        self.line = 1
        self.file = ParsedFile(name, [])

    def file_with(self, nodes: list[Node]) -> ParsedFile:
        self.file.nodes = nodes
        return self.file

    def error(self, message: str, line: int) -> ParseError:
        return ParseError(message, self.name, line)

    def advance(self, to: int) -> None:
        self.line += self.text.count("\n", self.pos, to)
        self.pos = to

    def add_text(self, nodes: list[Node], end: int) -> None:
        value = self.text[self.pos : end]
        line = self.line
        self.advance(end)
        if "<pre>" not in value:
            value = filter_whitespace(self.whitespace, value)
        if value:
            nodes.append(Text(value, line))

    def nodes(self, ctx: _Context) -> tuple[list[Node], tuple[str, int] | None]:
        """Nodes up to the ``{% end %}`` closing ``ctx`` (returns None as the second item) or
        up to a clause tag that continues it (returns the clause's header and line)."""
        nodes: list[Node] = []
        text = self.text
        while True:
            match = _TAG_START_RE.search(text, self.pos)
            if match is None:
                self.add_text(nodes, len(text))
                if ctx.op is not None:
                    raise self.error(f"Missing {{% end %}} block for {ctx.op}", ctx.line)
                return nodes, None
            start = match.start()
            # In a run of braces ("{{{ x }}") the expression opens at the last two.
            while text.startswith("{{{", start):
                start += 1
            self.add_text(nodes, start)
            line = self.line
            kind = text[start + 1]
            if text.startswith("!", start + 2):
                nodes.append(Text("{" + kind, line))
                self.advance(start + 3)
                continue
            closer = {"{": "}}", "%": "%}", "#": "#}"}[kind]
            end = text.find(closer, start + 2)
            if end < 0:
                what = {"{": "expression }}", "%": "block %}", "#": "comment #}"}[kind]
                raise self.error(f"Missing end {what}", line)
            contents = text[start + 2 : end].strip()
            self.advance(end + 2)
            if kind == "#":
                continue
            if kind == "{":
                if not contents:
                    raise self.error("Empty expression", line)
                nodes.append(Expr(contents, line, raw=False))
                continue
            if not contents:
                raise self.error("Empty block tag ({% %})", line)
            found = self.directive(contents, line, ctx, nodes)
            if found is not None:
                return nodes, found if found[0] != "end" else None

    def directive(
        self, contents: str, line: int, ctx: _Context, nodes: list[Node]
    ) -> tuple[str, int] | None:
        """Handle one ``{% ... %}``; returns ("end", line) or a clause to end the body."""
        match = _DIRECTIVE_RE.match(contents)
        assert match is not None  # contents is stripped and non-empty
        op, suffix = match.group(1), match.group(2).strip()
        head = f"{op} {suffix}" if suffix else op
        if op in _CLAUSES:
            if ctx.op not in _CONTROL:
                allowed = " or ".join(f"{{% {o} %}}" for o in sorted(_CLAUSES[op]))
                raise self.error(f"{op} outside {allowed} block", line)
            if ctx.op not in _CLAUSES[op]:
                raise self.error(f"{op} block cannot be attached to {ctx.op} block", line)
            return head, line
        if op == "end":
            if ctx.op is None:
                raise self.error("Extra {% end %} block", line)
            return "end", line
        if op in _CONTROL:
            self.control(op, head, line, ctx, nodes)
        elif op == "block":
            name = self.require(suffix, "block missing name", line)
            # Registered in the order blocks open: of two same-named blocks, one inside the
            # other, the inner one is the definition (as in Tornado).
            block = Block(name, line, [])
            self.file.blocks.append(block)
            block.body, _ = self.nodes(_Context("block", line, ctx.in_loop))
            nodes.append(block)
        elif op == "apply":
            func = self.require(suffix, "apply missing method name", line)
            # The body becomes a nested function: break/continue cannot reach a loop outside.
            body, _ = self.nodes(_Context("apply", line, False))
            nodes.append(Apply(func, line, body))
        else:
            self.single(op, suffix, head, line, ctx, nodes)
        return None

    def control(self, op: str, head: str, line: int, ctx: _Context, nodes: list[Node]) -> None:
        in_loop = ctx.in_loop or op in ("for", "while")
        clauses: list[Clause] = []
        clause_line = line
        while True:
            body, following = self.nodes(_Context(op, line, in_loop))
            clauses.append(Clause(head, clause_line, body))
            if following is None:
                break
            head, clause_line = following
        nodes.append(Control(clauses))

    def single(
        self, op: str, suffix: str, head: str, line: int, ctx: _Context, nodes: list[Node]
    ) -> None:
        """Directives without a body."""
        if op == "comment":
            return
        if op in ("set", "import", "from"):
            self.require(suffix, f"{op} missing statement", line)
            nodes.append(Stmt(suffix if op == "set" else head, line))
        elif op in ("break", "continue"):
            if not ctx.in_loop:
                raise self.error(f"{op} outside {{% for %}} or {{% while %}} block", line)
            nodes.append(Stmt(op, line))
        elif op == "raw":
            nodes.append(Expr(self.require(suffix, "raw missing expression", line), line, True))
        elif op == "module":
            expr = self.require(suffix, "module missing expression", line)
            nodes.append(Expr("_tt_modules." + expr, line, True))
        elif op == "include":
            name = self.require(suffix.strip("\"'"), "include missing file path", line)
            include = Include(name, line)
            self.file.includes.append(include)
            nodes.append(include)
        elif op == "extends":
            name = self.require(suffix.strip("\"'"), "extends missing file path", line)
            if ctx.op is not None:
                raise self.error("{% extends %} must be at the top level of the template", line)
            if self.file.extends is not None:
                raise self.error("A template can extend only one template", line)
            self.file.extends, self.file.extends_line = name, line
        elif op == "autoescape":
            func = self.require(suffix, "autoescape missing function name (or None)", line)
            self.file.autoescape = None if func == "None" else func
            self.file.has_autoescape = True
        elif op == "whitespace":
            if suffix not in WHITESPACE_MODES:
                raise self.error(
                    f"invalid whitespace mode {suffix}: use 'all', 'single' or 'oneline'", line
                )
            self.whitespace = suffix
        else:
            raise self.error(f"unknown operator: {op!r}", line)

    def require(self, value: str, message: str, line: int) -> str:
        if not value:
            raise self.error(message, line)
        return value
