"""Template engines side by side: squall.template, Tornado 6.6.1's tornado.template, Jinja2.

    python bench/templates.py [--rounds 7] [--renders 2000]

Renders one page (a base with an ``include``d header, a loop over 100 rows, seven
autoescaped values per row, some with characters to escape) through the three engines in
the same process, interleaved round by round, and prints the median time per render and the
ratios. The three outputs are checked to be the same page first (squall and Tornado byte for
byte; Jinja2 with whitespace normalized, as its whitespace rules differ).

The first run creates ``bench/.venv-templates`` with ``tornado==6.6.1`` and ``jinja2`` and
re-runs itself there; squall is imported from this checkout. Never part of CI.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
VENV = os.path.join(HERE, ".venv-templates")
PACKAGES = ["tornado==6.6.1", "jinja2"]

HEADER = """<header><h1>{{ title }}</h1><p>{{ subtitle }}</p></header>"""

# Tornado's language (squall and Tornado read the same text).
PAGE = """<!DOCTYPE html>
<html>
<head><title>{{ title }}</title></head>
<body>
{% include "header.html" %}
<table>
{% for row in rows %}
  <tr class="{{ 'odd' if row['id'] % 2 else 'even' }}">
    <td>{{ row['id'] }}</td>
    <td><a href="/users/{{ row['id'] }}">{{ row['name'] }}</a></td>
    <td>{{ row['email'] }}</td>
    <td>{{ row['score'] }}</td>
    <td>{{ row['note'] }}</td>
  </tr>
{% end %}
</table>
</body>
</html>
"""

# The same page in Jinja2's syntax.
JINJA_PAGE = PAGE.replace("{% end %}", "{% endfor %}")


def page_data() -> dict[str, Any]:
    rows = [
        {
            "id": i,
            "name": f"User <{i}> & friends",
            "email": f"user{i}@example.com",
            "score": i * 3.5,
            "note": 'It\'s "quoted"' if i % 3 == 0 else "plain text note",
        }
        for i in range(100)
    ]
    return {"title": "Users & <scores>", "subtitle": "100 rows", "rows": rows}


def squall_render() -> Callable[[], bytes]:
    sys.path.insert(0, REPO)
    from squall import template

    loader = template.DictLoader({"page.html": PAGE, "header.html": HEADER}, whitespace="all")
    page = loader.load("page.html")
    data = page_data()
    return lambda: page.generate(**data)


def tornado_render() -> Callable[[], bytes]:
    from tornado import template

    loader = template.DictLoader({"page.html": PAGE, "header.html": HEADER}, whitespace="all")
    page = loader.load("page.html")
    data = page_data()
    return lambda: page.generate(**data)


def jinja2_render() -> Callable[[], bytes]:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.DictLoader({"page.html": JINJA_PAGE, "header.html": HEADER}),
        autoescape=True,
    )
    page = env.get_template("page.html")
    data = page_data()
    return lambda: page.render(**data).encode("utf-8")


def normalized(text: bytes) -> bytes:
    return b" ".join(text.split()).replace(b"&#39;", b"&#x27;").replace(b"&#34;", b"&quot;")


def time_per_render(render: Callable[[], bytes], renders: int) -> float:
    start = time.perf_counter()
    for _ in range(renders):
        render()
    return (time.perf_counter() - start) / renders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--renders", type=int, default=2000)
    args = parser.parse_args()
    try:
        import jinja2
        import tornado
    except ImportError:
        python = os.path.join(VENV, "bin", "python")
        if not os.path.exists(python):
            print(f"creating {VENV} with {' '.join(PACKAGES)} ...", flush=True)
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", *PACKAGES], check=True)
        os.execv(python, [python, __file__, *sys.argv[1:]])
    engines = {
        "squall": squall_render(),
        "tornado": tornado_render(),
        "jinja2": jinja2_render(),
    }
    outputs = {name: render() for name, render in engines.items()}
    if outputs["squall"] != outputs["tornado"]:
        raise SystemExit("squall and Tornado render different pages")
    if normalized(outputs["jinja2"]) != normalized(outputs["squall"]):
        raise SystemExit("Jinja2 renders a different page")
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.rounds):
        for name, render in engines.items():
            times[name].append(time_per_render(render, args.renders))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"Python {platform.python_version()}, Tornado {tornado.version}, "
        f"Jinja2 {jinja2.__version__}; {len(outputs['squall'])} bytes per page; "
        f"{args.rounds} rounds x {args.renders} renders, medians"
    )
    print(f"{'engine':<8} {'us/render':>10} {'renders/s':>10}  vs squall")
    for name, value in medians.items():
        ratio = value / medians["squall"]
        print(f"{name:<8} {value * 1e6:>10.1f} {1 / value:>10.0f}  {ratio:.2f}x the time")


if __name__ == "__main__":
    main()
