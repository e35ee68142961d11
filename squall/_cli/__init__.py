"""The pieces of the ``squall`` command (``squall.cli`` is its entry point).

- ``options``: the options, their environment variables, their checks (one-line usage errors);
- ``tls``: the TLS context from ``--ssl-*`` (checked at start, re-read by each new worker);
- ``listeners``: TCP, unix sockets (mode, group), ``--reuse-port`` placeholders, ``--fd`` and
  systemd socket activation (``LISTEN_FDS``);
- ``logsetup``: text or JSON logs, ``--log-config``, the access-line template, compiled-build
  source locations;
- ``appload``: import APP, call a factory, turn what it gives into a server plan;
- ``serving``: each worker's ``serve()``: limits, the concurrency cap (503), request ids,
  ``--root-path``, counting and the access line.

These modules sit on top, beside ``squall.cli``: they may import anything.
"""

from __future__ import annotations
