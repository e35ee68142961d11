"""Child processes inherit the alias through the ``.pth`` startup hook; squall's build installs it.

The hook is exercised at real interpreter startup: a throwaway virtual environment (no pip,
made in well under a second) gets a ``.pth`` line putting the source tree and this environment's
packages on its path, and the hook file exactly as squall ships it. Its Python then starts with
or without ``SQUALL_TORNADO_ALIAS``, as a child of an aliased parent would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

from squall.compat import ENV_VAR, HOOK_NAME, hook_installed

ROOT = Path(__file__).resolve().parents[2]
HOOK_SOURCE = ROOT / "squall" / "compat" / "tornado-alias.pth"


@pytest.fixture(scope="module")
def scratch_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a fresh venv whose site-packages holds squall's hook, as installed."""
    where = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(where)
    python = where / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    ours = sysconfig.get_paths()["purelib"]
    # Sorted before the hook, as setuptools' editable path hooks are.
    (site_packages / "00-squall-source.pth").write_text(f"{ROOT}\n{ours}\n")
    shutil.copy(HOOK_SOURCE, site_packages / HOOK_NAME)
    return python


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, "PYTHONPATH")}
    return {**env, **extra}


PROBE = "import sys; print('squall' in sys.modules, 'tornado' in sys.modules)"


def test_the_hook_installs_the_alias_at_startup_when_the_variable_is_set(
    scratch_python: Path,
) -> None:
    result = subprocess.run(
        [str(scratch_python), "-c", PROBE + "; import tornado.web, squall.web;"
         "print(tornado.version, tornado.web is squall.web)"],
        env=child_env(**{ENV_VAR: "1"}),
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # squall.compat is imported at startup; tornado when the program first imports it.
    assert result.stdout.splitlines() == ["True False", "6.5.10 True"]


@pytest.mark.parametrize("value", [None, "", "0"])
def test_the_hook_does_nothing_without_the_variable(
    scratch_python: Path, value: str | None
) -> None:
    env = child_env() if value is None else child_env(**{ENV_VAR: value})
    result = subprocess.run(
        [str(scratch_python), "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False False"  # not even squall is imported
    assert result.stderr == ""


def test_a_child_of_an_aliased_process_inherits_the_alias(
    scratch_python: Path, tmp_path: Path
) -> None:
    parent = tmp_path / "parent.py"
    parent.write_text(
        textwrap.dedent(
            """
            import subprocess, sys
            import tornado
            child = subprocess.run(
                [sys.executable, "-c",
                 "import tornado.ioloop, squall.ioloop; "
                 "print(tornado.version, tornado.ioloop is squall.ioloop)"],
                capture_output=True, text=True,
            )
            print("child:", child.stdout.strip(), child.stderr.strip())
            """
        )
    )
    result = subprocess.run(
        [str(scratch_python), "-m", "squall.tornado", str(parent)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "child: 6.5.10 True"


def test_a_hook_that_cannot_install_says_so_in_one_line(
    scratch_python: Path, tmp_path: Path
) -> None:
    # Real Tornado imported by sitecustomize (which runs after .pth files) is fine: the hook ran
    # first. A .pth sorted before ours that imports Tornado is the case the hook must report.
    site_packages = scratch_python.parents[1] / "lib"
    before = next(site_packages.glob("python3*/site-packages")) / "0-early-tornado.pth"
    fake = tmp_path / "tornado"
    fake.mkdir()
    (fake / "__init__.py").write_text("version = '6.4'\n")
    before.write_text(f"{tmp_path}\nimport tornado\n")
    try:
        result = subprocess.run(
            [str(scratch_python), "-c", "import tornado; print(tornado.version)"],
            env=child_env(**{ENV_VAR: "1"}),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        before.unlink()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "6.4"
    assert result.stderr.splitlines() == [
        f"squall: {ENV_VAR} is set but the tornado alias could not be installed: Tornado is "
        f"already imported in this process (from {fake / '__init__.py'}): squall's tornado alias "
        "must be installed before anything imports tornado. Run the program with `python -m "
        "squall.tornado` (or `squall serve --tornado-alias`), or call "
        "squall.compat.install_tornado_alias() before any other import."
    ]


def test_this_environment_has_the_hook_installed() -> None:
    """The development install (``pip install -e .``) puts the hook in site-packages too."""
    path = hook_installed()
    if path is None:
        pytest.skip(
            f"{HOOK_NAME} is not in this environment's site-packages: it was installed "
            "before the hook existed; run `pip install -e .` again"
        )
    assert Path(path).read_text() == HOOK_SOURCE.read_text()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import tornado, squall.web, tornado.web as w; print(w is squall.web)",
        ],
        env=child_env(**{ENV_VAR: "1"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


# -- packaging -----------------------------------------------------------------------------------


def copy_project(to: Path) -> Path:
    """The files a build reads, without build output or the virtual environment."""
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, to / name)
    shutil.copytree(
        ROOT / "squall",
        to / "squall",
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"),
    )
    return to


def pip_install(project: Path, prefix: Path, editable: bool) -> Path:
    """``pip install`` (build isolation, as users run it) into ``prefix``; its site-packages."""
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed"]
    command += ["--prefix", str(prefix)]  # --ignore-installed: leave this environment alone
    command += ["-e", str(project)] if editable else [str(project)]
    result = subprocess.run(
        command,
        env={**child_env(), "SQUALL_PURE_PYTHON": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return next(prefix.glob("lib/python3*/site-packages"))


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("editable", [False, True], ids=["wheel", "editable"])
def test_installing_squall_puts_the_hook_into_site_packages(tmp_path: Path, editable: bool) -> None:
    project = tmp_path / "project"
    project.mkdir()
    site_packages = pip_install(copy_project(project), tmp_path / "prefix", editable)
    hook = site_packages / HOOK_NAME
    assert hook.read_text() == HOOK_SOURCE.read_text()
    record = next(site_packages.glob("squall-*.dist-info/RECORD")).read_text()
    assert f"{HOOK_NAME}," in record  # pip uninstall removes it with squall
