"""The template compiler behind ``squall.template``: parser, code generator and runtime helpers.

How this works, in three steps (one module each):

1. ``parse.py`` reads a template's text into a tree of nodes (text, expressions, statements,
   control blocks with their clauses, blocks, apply, include, extends), filtering the
   whitespace of text as it goes and raising ``ParseError`` (file and line) for any malformed
   tag. A parsed file knows its own ``{% extends %}`` and ``{% autoescape %}``.
2. ``codegen.py`` turns the tree of one template, its ancestors (``extends``) and the files it
   includes into the source of one Python function, ``_tt_execute``, with a
   ``# file:line (via ...)`` comment on every line and a map from generated lines back to
   template positions (so a Python ``SyntaxError`` becomes a ``ParseError`` naming the
   template line).
3. ``runtime.py`` holds the helpers the generated code calls: string coercion, the fast
   ``xhtml_escape`` path, custom autoescape functions and ``{% apply %}``.

Rules: nothing here imports above ``squall.escape``; ``squall.template`` owns the public
classes (``Template``, the loaders) and the cache."""
