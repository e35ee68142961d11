"""``squall serve --tornado-alias``: an app written against ``tornado`` is served unmodified."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.process.apps.harness import SquallFactory, get, squall

__all__ = ["squall"]

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and Linux signals")

APP = """
import tornado
import tornado.web

import squall.web


class Version(tornado.web.RequestHandler):
    def get(self):
        self.write(f"{tornado.version} {tornado.web is squall.web}")


app = tornado.web.Application([("/", Version)])
"""


def write_app(where: Path) -> Path:
    (where / "tornado_app.py").write_text(textwrap.dedent(APP))
    # A Tornado installed where the app lives must not be picked up.
    fake = where / "tornado"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise SystemExit('the real tornado was imported')\n")
    return where


def test_serve_with_the_flag_runs_a_tornado_app(squall: SquallFactory, tmp_path: Path) -> None:
    app_dir = write_app(tmp_path)
    run = squall("--tornado-alias", "--app-dir", str(app_dir), app="tornado_app:app")
    run.wait_ready(1)
    response = get(run.port, "/")
    assert (response.status, response.text) == (200, "6.5.10 True")


def test_serve_with_the_environment_variable_runs_a_tornado_app(
    squall: SquallFactory, tmp_path: Path
) -> None:
    app_dir = write_app(tmp_path)
    run = squall(
        "--workers", "0", "--app-dir", str(app_dir),
        app="tornado_app:app", env={"SQUALL_TORNADO_ALIAS": "1"},
    )  # fmt: skip
    response = get(run.port, "/")
    assert (response.status, response.text) == (200, "6.5.10 True")


def test_serve_without_the_alias_does_not_hide_a_tornado_import(
    squall: SquallFactory, tmp_path: Path
) -> None:
    app_dir = write_app(tmp_path)
    run = squall(
        "--workers", "0", "--app-dir", str(app_dir), app="tornado_app:app", wait_listening=False
    )  # fmt: skip
    assert run.wait_exit(20) != 0
    assert "the real tornado was imported" in run.log()
