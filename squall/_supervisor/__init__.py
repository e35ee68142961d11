"""The process layer: forking workers, watching them, and the child side of shutdown.

- ``common``: the toolkit both supervisors are built from: restart backoff, exit descriptions,
  the signal self-pipe, reaping, signalling, systemd notification.
- ``filewatch``: the one file watcher behind every reload (and ``squall.autoreload``).
- ``fork``: Tornado's ``fork_processes`` (fork n children, restart the ones that crash with the
  same task id) plus restart backoff, signal forwarding, parent-death handling and reload.
- ``worker_guard``: what a forked child installs: SIGTERM/SIGINT drain the servers registered
  with ``register_drain`` and stop the loop; the child also leaves when its parent dies.
- ``master``, ``slots``, ``rollout``, ``ipc``, ``worker``, ``metrics``: the managed supervisor
  behind ``squall serve --workers N`` (the master's loop, its records of slots and workers,
  rolling restarts/recycling/scaling, the master-worker channel, the worker half, counters).

This package knows nothing of HTTP: it imports the standard library and ``squall.log`` only, and
the parent's code never runs (or imports) an event loop.
"""

from __future__ import annotations
