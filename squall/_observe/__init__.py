"""What the operator sees: diagnostics fed by the layers above through small hooks.

- ``blocking``: the loop-block detector, a watchdog thread that logs the stack of an event loop
  that stopped turning, naming the request handler that blocked it;
- ``logsource``: true source locations for log records made by compiled code.

Rules: the modules here import the standard library, ``squall.log``, ``squall.httputil`` and
``squall._compiled`` only. ``_web`` and ``_server`` call into them, never the reverse; objects
from those layers are recognised by their shape. Importing this package starts nothing.
"""

from __future__ import annotations
