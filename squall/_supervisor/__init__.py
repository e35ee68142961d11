"""The process layer: forking workers, watching them, and the child side of shutdown.

- ``fork``: Tornado's ``fork_processes`` (fork n children, restart the ones that crash with the
  same task id) plus restart backoff, signal forwarding and parent-death handling.
- ``worker_guard``: what a forked child installs: SIGTERM/SIGINT drain the servers registered
  with ``register_drain`` and stop the loop; the child also leaves when its parent dies.
- ``master``, ``ipc``, ``worker``: the managed supervisor behind ``squall serve --workers N``.

This package knows nothing of HTTP: it imports the standard library and ``squall.log`` only, and
the parent's code never runs (or imports) an event loop.
"""

from __future__ import annotations
