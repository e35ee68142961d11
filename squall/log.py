"""Squall's loggers, and Tornado's log line format.

Three loggers, named as Tornado names its own but under ``squall.``:

- ``access_log`` ("squall.access"): one line per finished request;
- ``app_log`` ("squall.application"): errors raised by user code (handlers, callbacks);
- ``gen_log`` ("squall.general"): everything else squall has to say.

``LogFormatter`` writes ``[I 261126 10:42:05 module:line] message``; ``enable_pretty_logging``
installs it on a logger, applying the logging options the ``options`` module defines. Both live
in ``squall._logformat`` (a leaf, which ``options`` uses too) and are re-exported here.

``define_logging_options`` is ``squall.options.define_logging_options`` (the same function, as
in Tornado): the option definitions belong to the option parser. It is looked up on first use
(the module ``__getattr__`` below), so that importing this module, which nearly every squall
module does, never imports the option parser; ``options`` never imports this module.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from squall._logformat import (
    DEFAULT_COLORS,
    DEFAULT_DATE_FORMAT,
    DEFAULT_FORMAT,
    LogFormatter,
    enable_pretty_logging,
)

if TYPE_CHECKING:
    from squall.options import define_logging_options as define_logging_options

__all__ = [
    "DEFAULT_COLORS",
    "DEFAULT_DATE_FORMAT",
    "DEFAULT_FORMAT",
    "LogFormatter",
    "access_log",
    "app_log",
    "define_logging_options",
    "enable_pretty_logging",
    "gen_log",
]

access_log = logging.getLogger("squall.access")
app_log = logging.getLogger("squall.application")
gen_log = logging.getLogger("squall.general")


def __getattr__(name: str) -> Any:
    # ``define_logging_options``: the option parser's, imported when first asked for (see the
    # module docstring). ``from squall.log import define_logging_options`` comes here too.
    if name == "define_logging_options":
        from squall.options import define_logging_options

        globals()[name] = define_logging_options  # later lookups are plain attribute reads
        return define_logging_options
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
