"""What the README's first command installs is the compiled build (when a C compiler is there).

The command is read from README.md's quick start and run as written (``pip install .``, with
pip's build isolation, as a user would), into a throwaway target directory; the installed
squall must then report ``COMPILED`` from a directory where the source tree is not importable.
It compiles the request path with mypyc, so it takes a few minutes: marked ``slow``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.process.apps.harness import ROOT

pytestmark = pytest.mark.slow


def readme_first_command() -> list[str]:
    """The first command of the README's quick start, up to its first ``&&``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)\n```", quick_start, re.DOTALL)
    assert block, "README.md's quick start has no sh block"
    first = block.group(1).splitlines()[0].split("&&")[0]
    return shlex.split(first)


def test_the_readme_installs_with_pip_and_not_editable() -> None:
    command = readme_first_command()
    assert command[:2] == ["pip", "install"], command
    assert not {"-e", "--editable"} & set(command), "the quick start must not be editable"
    assert "." in command


def _compiler() -> str | None:
    configured = (sysconfig.get_config_var("CC") or "").split()
    return shutil.which(configured[0]) if configured else shutil.which("cc")


@pytest.mark.timeout(900)
@pytest.mark.skipif(_compiler() is None, reason="no C compiler: pip falls back to pure Python")
def test_the_readme_first_command_installs_the_compiled_build(tmp_path: Path) -> None:
    command = readme_first_command()
    target = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if k not in ("SQUALL_PURE_PYTHON", "SQUALL_COMPILE")}
    result = subprocess.run(
        [sys.executable, "-m", *command, "--no-deps", "--quiet", "--target", str(target)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    built = sorted(p.name for p in (target / "squall").glob("*.so"))
    assert any(name.startswith("_native__mypyc") for name in built), (built, result.stderr[-3000:])
    assert list((target / "squall" / "_http1").glob("protocol*.so"))
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import squall, squall._http1 as h; print(h.COMPILED, squall.__file__)",
        ],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    compiled, location = probe.stdout.split()
    assert compiled == "True" and location.startswith(str(target)), probe.stdout
