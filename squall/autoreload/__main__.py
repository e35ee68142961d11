"""``python -m squall.autoreload [--until-success] [-m module | script.py] args...``.

The wrapper's entry point (see :func:`squall.autoreload.main`). ``autoreload`` is a package so
that ``-m`` imports it first under its own name, as the program will import it: the wrapper and
the program share one module and its state (the watched files, the reload hooks), and this file
is the only one that runs as ``__main__``. ``-m tornado.autoreload`` under the tornado alias
comes here too.
"""

from __future__ import annotations

from squall.autoreload import main

if __name__ == "__main__":
    main()
