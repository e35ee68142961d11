"""squall's benchmark suite: squall, Tornado and uvicorn+Starlette side by side (issue 7).

    python bench/run.py                      # every scenario, 3 rounds x 8 s per cell
    python bench/run.py --scenarios 1,4 --rounds 1 --duration 3
    python bench/run.py --quick              # 1 round, 2 s cells, 1,000 idle connections
    python bench/run.py --frameworks squall,tornado --scenarios 8
    python bench/run.py --no-build           # keep whatever build of squall is in place

Only the standard library is needed to run this script (any ``python3``). It

- compiles squall's protocol layer first (``scripts/build-ext`` with the squall interpreter;
  ``--no-build`` skips it), exports a copy of ``squall/`` without any compiled module to
  ``bench/.pure/squall`` (git-ignored, rewritten every run), and checks in a subprocess that
  ``squall._http1.COMPILED`` is True for ``squall`` and False for ``squall_pure``; the report
  header records both builds;
- creates ``bench/.venv-peers`` on first use (``pip install tornado uvicorn starlette uvloop
  httptools python-multipart matplotlib``) and runs the peers with that interpreter; squall runs
  with the repository's ``.venv`` (``--squall-python`` to override);
- starts each server pinned to CPU 0 (``taskset``) and ``wrk -t1`` pinned to CPU 1, with a Lua
  script per cell that also prints exact p50/p99/p99.9 from wrk's histogram;
- interleaves the frameworks: every round visits every scenario and, inside it, every
  framework (the starting framework rotates each round); a cell's figure is the MEDIAN over
  rounds;
- measures the server's CPU time per request (utime+stime of the server's process group from
  ``/proc``, over the wrk run) beside req/s: it is steadier than req/s on a shared machine;
- writes ``bench/results/latest.md`` (tables, machine, versions, exact commands),
  ``bench/results/latest.png`` (or ``.svg`` without matplotlib; drawn by ``bench/chart.py``) and
  the raw data with every wrk output under ``bench/results/raw/``.

Frameworks: ``squall`` (the compiled build, ``PYTHONPATH=<repo>``), ``squall_pure`` (the same
``squall_app.py`` with ``PYTHONPATH=bench/.pure``: the pure-Python build; scenarios 1 and 2
only), ``tornado``, ``uvicorn_starlette``, and ``raw_uvloop`` (``raw_app.py``: an
``asyncio.Protocol`` on uvloop + httptools answering canned responses, the ceiling of any Python
server; scenario 1 only; tables of that scenario get a ``× raw_uvloop`` column).

Scenarios (apps in ``bench/scenarios/``, one per framework, the scenario chosen by argument):

1. hello: ``GET /plaintext`` and ``GET /json`` (wrk -c64).
2. routing: 50 routes (25 static, 25 regex with two path arguments); the Lua script walks all 50
   paths round-robin (wrk -c64).
3. forms: ``POST`` of a 4 KiB urlencoded form, one field read with ``get_argument`` (Starlette:
   ``await request.form()``) (wrk -c64); a 1 MiB ``application/octet-stream`` upload (wrk -c16).
4. large responses: 64 KiB (wrk -c16) and 16 MiB (wrk -c4) bodies; reported in MB/s (10^6 B).
   squall and Tornado compute the automatic ETag (a hash of the whole body), Starlette does
   not; the "no ETag" cells (handler's ``compute_etag`` returns None) compare like with like.
5. latency under load: ``wrk2`` is not packaged in Debian, so constant rate is approximated with
   wrk's Lua ``delay()``: 16 connections, each waits 16/RATE s between requests (RATE defaults
   to 2,000 req/s, below every framework's saturation). This is closed-loop (coordinated
   omission is not corrected); p50/p99/p99.9 are wrk's.
6. multi-process scaling: a ~2 ms pure-Python handler (loop count calibrated at start, passed
   as ``BENCH_CPU_N``) with 1 worker (server on CPU 0) and 2 workers (server on CPUs 0,1; wrk
   still on CPU 1, its share is small at these rates); the 2/1 ratio is reported (ideal 2.0).
   squall and Tornado: ``HTTPServer.bind`` + ``start(N)``; uvicorn: ``workers=N``.
7. memory: RSS of the idle worker after one request, then RSS again with N idle keep-alive
   connections (default 10,000, loopback; each sent one request first); bytes/connection =
   RSS delta / N. The open-file limit is raised to its hard limit (needs hard >= N + slack).
8. the seed's scenario: ``GET /d`` latency (wrk -c4) while 4 client threads keep ``GET /s``
   busy (it sleeps ``BENCH_SLEEP_S`` = 0.5 s): sync handler (``time.sleep``), threaded
   (squall ``@threaded``; Tornado ``run_in_executor``), async (``await asyncio.sleep``); squall
   vs Tornado only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
APPS = os.path.join(HERE, "scenarios")
RESULTS = os.path.join(HERE, "results")
RAW = os.path.join(RESULTS, "raw")
PEERS_VENV = os.path.join(HERE, ".venv-peers")
PURE = os.path.join(HERE, ".pure")  # PYTHONPATH of squall_pure: a copy of squall/ without *.so
PEER_PACKAGES = ["tornado", "uvicorn", "starlette", "uvloop", "httptools", "python-multipart"]
CHART_PACKAGES = ["matplotlib"]
VERSION_PACKAGES = ["tornado", "uvicorn", "starlette", "uvloop", "httptools", "python-multipart"]

FRAMEWORKS = {
    "squall": "squall_app.py",
    "squall_pure": "squall_app.py",
    "tornado": "tornado_app.py",
    "uvicorn_starlette": "starlette_app.py",
    "raw_uvloop": "raw_app.py",
}
# frameworks measured in some scenarios only (the others run in every scenario)
ONLY_IN = {"squall_pure": {1, 2}, "raw_uvloop": {1}}
BUILD_LABELS = {True: "compiled (mypyc)", False: "pure Python"}
SCENARIO_NAMES = {
    1: "hello",
    2: "routing",
    3: "forms",
    4: "large",
    5: "latency",
    6: "scaling",
    7: "memory",
    8: "blocking",
}
FORM_BYTES = 4096
UPLOAD_BYTES = 1024 * 1024
BLOCKING_HOLDERS = 4

Row = dict[str, Any]


def log(msg: str) -> None:
    """Print one progress line at once."""
    print(msg, flush=True)


# ------------------------------------------------------------------------------ environment
def ensure_peers_venv(python: str) -> str:
    """Create ``bench/.venv-peers`` with the peers (and matplotlib) if it is missing; return its
    python. A failed matplotlib install is not fatal: the chart falls back to SVG."""
    vpy = os.path.join(PEERS_VENV, "bin", "python")
    probe = "import tornado, uvicorn, starlette, uvloop, httptools, multipart"
    if (
        os.path.exists(vpy)
        and subprocess.run([vpy, "-c", probe], capture_output=True).returncode == 0
    ):
        return vpy
    log(f"creating {PEERS_VENV} and installing {' '.join(PEER_PACKAGES)} ...")
    if not os.path.exists(vpy):
        subprocess.run([python, "-m", "venv", PEERS_VENV], check=True)
    subprocess.run([vpy, "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    subprocess.run([vpy, "-m", "pip", "install", "-q", *CHART_PACKAGES], check=False)
    return vpy


def build_compiled(python: str) -> None:
    """Compile the request path in place: ``PYTHON=<python> scripts/build-ext``."""
    log(f"compiling squall (PYTHON={python} scripts/build-ext) ...")
    res = subprocess.run(
        [os.path.join(REPO, "scripts", "build-ext")],
        cwd=REPO,
        env={**os.environ, "PYTHON": python},
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError(f"scripts/build-ext failed:\n{(res.stdout + res.stderr)[-2000:]}")
    log("  " + (res.stdout.strip().splitlines() or ["built"])[-1])


def export_pure() -> str:
    """Copy ``squall/`` to ``bench/.pure/squall`` without compiled modules or caches; the copy's
    parent (squall_pure's PYTHONPATH)."""
    dst = os.path.join(PURE, "squall")
    shutil.rmtree(PURE, ignore_errors=True)
    shutil.copytree(
        os.path.join(REPO, "squall"),
        dst,
        ignore=shutil.ignore_patterns("*.so", "__pycache__", "*.pyc"),
    )
    return PURE


def pythonpath(fw: str) -> str:
    """The PYTHONPATH a framework's server runs with."""
    return PURE if fw == "squall_pure" else REPO


def squall_build(python: str, fw: str) -> tuple[bool, str, str]:
    """(``squall._http1.COMPILED``, ``squall.__file__``, stderr) as ``fw``'s server sees them."""
    code = "import squall, squall._http1 as h; print(h.COMPILED, squall.__file__)"
    res = subprocess.run(
        [python, "-c", code],
        cwd=APPS,
        env={**os.environ, "PYTHONPATH": pythonpath(fw)},
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError(f"{fw}: cannot import squall: {res.stderr.strip()[-1000:]}")
    compiled, path = res.stdout.split(None, 1)
    return compiled == "True", path.strip(), res.stderr.strip()


def check_builds(python: str, fws: list[str], strict: bool) -> list[str]:
    """Check that ``squall`` runs the compiled build and ``squall_pure`` the pure one, from the
    expected directory; the report lines. A mismatch raises if ``strict``, else it is noted."""
    lines = []
    for fw, want in (("squall", True), ("squall_pure", False)):
        if fw not in fws:
            continue
        compiled, path, err = squall_build(python, fw)
        where = os.path.relpath(path, REPO)
        problems = []
        if compiled != want:
            problems.append(f"expected {BUILD_LABELS[want]}")
        if not path.startswith(pythonpath(fw) + os.sep):
            problems.append(f"imported from {where}, not {os.path.relpath(pythonpath(fw), REPO)}")
        if err:
            problems.append(f"import printed: {err.splitlines()[-1]}")
        if problems and strict:
            raise RuntimeError(f"{fw} build check failed: " + "; ".join(problems))
        note = f" (**{'; '.join(problems)}**)" if problems else ""
        lines.append(
            f"{fw}: {BUILD_LABELS[compiled]} (`squall._http1.COMPILED` = {compiled}, "
            f"`{where}`){note}"
        )
        log(f"  {lines[-1]}")
    return lines


def default_squall_python() -> str:
    """The repository's ``.venv`` python when present, else the interpreter running this script."""
    cand = os.path.join(REPO, ".venv", "bin", "python")
    return cand if os.path.exists(cand) else sys.executable


def raise_nofile() -> int:
    """Raise the soft open-file limit to the hard limit (children inherit it); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft if hard == resource.RLIM_INFINITY else hard


def calibrate_cpu_n(python: str, target_ms: float = 2.0) -> int:
    """The loop count of ``common.burn`` that takes about ``target_ms`` with ``python``."""
    code = (
        f"import sys, time; sys.path.insert(0, {APPS!r}); import common\n"
        "n = 20000\n"
        "best = min((lambda t: (common.burn(n), time.perf_counter() - t)[1])(time.perf_counter())"
        " for _ in range(20))\n"
        "print(n / best)\n"
    )
    per_s = float(
        subprocess.run(
            ["taskset", "-c", "0", python, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    return max(1000, int(per_s * target_ms / 1000))


# ------------------------------------------------------------------------------ /proc helpers
def _stat_fields(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(")") + 2 :].split()


def all_ticks() -> dict[int, tuple[int, int]]:
    """{pid: (process group, utime+stime ticks)} of every live process."""
    snap = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            rest = _stat_fields(pid)
            if rest is not None:
                snap[int(pid)] = (int(rest[2]), int(rest[11]) + int(rest[12]))
    return snap


def group_ticks_by_pid(pgid: int) -> dict[int, int]:
    """utime+stime clock ticks of each live process of a process group."""
    ticks = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            rest = _stat_fields(pid)
            if rest is not None and int(rest[2]) == pgid:
                ticks[int(pid)] = int(rest[11]) + int(rest[12])
    return ticks


def group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) pids of a process group."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            rest = _stat_fields(pid)
            if rest is not None and int(rest[2]) == pgid and rest[0] != "Z":
                out.append(int(pid))
    return out


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, from ``/proc/PID/status``."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def fd_count(pid: int) -> int:
    """Open file descriptors of one process."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def port_free(port: int) -> bool:
    """Whether 127.0.0.1:port can be bound."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """One GET on a fresh connection; (status, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


# ------------------------------------------------------------------------------ servers
@dataclass
class Server:
    """One framework's app for one scenario, in its own process group, pinned with taskset."""

    framework: str
    python: str
    scenario: str
    port: int
    cpus: str = "0"
    workers: int = 1
    mode: str = ""
    env: dict[str, str] = field(default_factory=dict)
    pythonpath: str = REPO
    proc: subprocess.Popen[bytes] | None = None

    @property
    def argv(self) -> list[str]:
        """The exact command line (recorded in the report)."""
        args = [self.python, FRAMEWORKS[self.framework], self.scenario, str(self.port)]
        args.append(str(self.workers))
        if self.mode:
            args.append(self.mode)
        return ["taskset", "-c", self.cpus, *args]

    def start(self, timeout: float = 30.0) -> None:
        """Start and poll ``GET /plaintext`` until it answers 200 (and all workers are up)."""
        if not port_free(self.port):
            raise RuntimeError(f"port {self.port} is busy: pass another --port")
        self.logpath = os.path.join(RAW, f"server-{self.framework}-{self.scenario}.log")
        self.logf = open(self.logpath, "wb")
        env = {**os.environ, **self.env, "PYTHONPATH": self.pythonpath}
        self.proc = subprocess.Popen(
            self.argv,
            cwd=APPS,
            env=env,
            stdout=self.logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.framework} exited: see {self.logpath}")
            try:
                if http_get(self.port, "/plaintext", 1.0)[0] == 200:
                    if self.workers > 1:
                        time.sleep(1.0)  # let every forked/spawned worker reach its loop
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.framework} not ready after {timeout} s: see {self.logpath}")

    @property
    def pgid(self) -> int:
        """The process group (== the leader's pid: start_new_session)."""
        if self.proc is None:
            raise RuntimeError("server not started: call start() first")
        return self.proc.pid

    def stop(self) -> None:
        """SIGINT, then SIGTERM, then SIGKILL to the whole process group until nothing is left."""
        if self.proc is None:
            return
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                self.proc.poll()
                if not group_pids(self.pgid):
                    break
                time.sleep(0.05)
            else:
                continue
            break
        self.proc.wait(timeout=5)
        self.logf.close()
        self.proc = None


# ------------------------------------------------------------------------------ wrk
LUA_DONE = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH p50_us=%d p99_us=%d p999_us=%d max_us=%d\\n",
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""


def lua_script(name: str, body: str) -> str:
    """Write a wrk Lua script (``body`` + the percentile reporter) under raw/lua/; its path."""
    path = os.path.join(RAW, "lua", f"{name}.lua")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(body + LUA_DONE)
    return path


def make_scripts(rate: int) -> dict[str, str]:
    """Every Lua script the cells use, by cell name."""
    paths = []
    for i in range(25):
        paths += [f"/s{i}", f"/p{i}/{1000 + i}/item"]
    routes = "paths = {" + ", ".join(f'"{p}"' for p in paths) + "}\n"
    routes += (
        "i = 0\nrequest = function()\n  i = i % #paths + 1\n"
        "  return wrk.format(nil, paths[i])\nend\n"
    )
    fields = ["name=squall"]
    n = 0
    while len("&".join(fields)) < FORM_BYTES:
        fields.append(f"field{n}=value{n}xxxxxxxxxxxxxxxxxxxxxxxx")
        n += 1
    form = "&".join(fields)[:FORM_BYTES]
    form = form.rstrip("&")
    post = 'wrk.method = "POST"\nwrk.body = {body}\nwrk.headers["Content-Type"] = "{ctype}"\n'
    conns = 16
    delay_ms = 1000.0 * conns / rate
    return {
        "plain": lua_script("plain", ""),
        "routing": lua_script("routing", routes),
        "form": lua_script(
            "form",
            post.format(body=json.dumps(form), ctype="application/x-www-form-urlencoded"),
        ),
        "upload": lua_script(
            "upload",
            post.format(body=f'string.rep("u", {UPLOAD_BYTES})', ctype="application/octet-stream"),
        ),
        "latency": lua_script("latency", f"delay = function()\n  return {delay_ms:.3f}\nend\n"),
    }


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(out: str) -> Row:
    """req/s, request count, errors and the BENCH percentile line of one wrk output."""
    r: Row = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["errors"] += int(m.group(1)) if m else 0
    m = re.search(r"BENCH p50_us=(\d+) p99_us=(\d+) p999_us=(\d+) max_us=(\d+)", out)
    if m:
        r["p50_ms"], r["p99_ms"], r["p999_ms"], r["max_ms"] = (int(x) / 1000 for x in m.groups())
    return r


def run_wrk(
    srv: Server, path: str, script: str, conns: int, duration: float, client_cpu: int
) -> Row:
    """Run wrk against ``srv`` and measure the server group's CPU time over the run."""
    argv = ["taskset", "-c", str(client_cpu), "wrk", "-t1", f"-c{conns}", f"-d{duration:g}s"]
    argv += ["--timeout", "30s", "--latency", "-s", script, f"http://127.0.0.1:{srv.port}{path}"]
    snap0 = all_ticks()
    t0 = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60).stdout
    wall = time.monotonic() - t0
    snap1 = all_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    pg, me = srv.pgid, os.getpid()
    per_pid = {
        pid: (t - snap0.get(pid, (0, 0))[1]) / hz for pid, (g, t) in snap1.items() if g == pg
    }
    other = sum(t - snap0[pid][1] for pid, (g, t) in snap1.items() if g != pg and pid in snap0)
    # CPU used meanwhile by every other process (other sessions, daemons; not wrk, not us):
    # anything well above 0 means the figures of this cell were disturbed.
    other -= snap1.get(me, (0, 0))[1] - snap0.get(me, (0, 0))[1]
    r_other = 100.0 * other / hz / wall
    cpu_s = sum(per_pid.values())
    r = parse_wrk(out)
    # CPU seconds of each process that worked (workers of a multi-process server)
    r["cpu_split"] = sorted((round(v, 2) for v in per_pid.values() if v > 0), reverse=True)
    r["cpu_us"] = 1e6 * cpu_s / r["requests"] if r.get("requests") else None
    r["cpu_pct"] = 100.0 * cpu_s / wall
    r["other_cpu_pct"] = r_other
    r["command"] = shlex.join(argv)
    r["raw"] = out
    return r


# ------------------------------------------------------------------------------ scenarios
@dataclass
class Ctx:
    """What every scenario needs: options, interpreters, scripts, and the row sink."""

    args: argparse.Namespace
    pythons: dict[str, str]
    scripts: dict[str, str]
    env: dict[str, str]
    rows: list[Row]
    commands: dict[str, str]

    def server(self, fw: str, scenario: str, **kw: Any) -> Server:
        """A (not yet started) server for ``fw``; its command is recorded for the report."""
        srv = Server(
            fw,
            self.pythons[fw],
            scenario,
            self.args.port,
            env=self.env,
            pythonpath=pythonpath(fw),
            **kw,
        )
        key = f"{fw} {scenario} {kw.get('workers', 1)} {kw.get('mode', '')}".strip()
        prefix = (
            "" if srv.pythonpath == REPO else f"PYTHONPATH={os.path.relpath(srv.pythonpath, APPS)} "
        )
        self.commands[key] = f"(cd bench/scenarios && {prefix}{shlex.join(srv.argv)})"
        return srv

    def add(self, scenario: str, cell: str, fw: str, rnd: int, row: Row) -> None:
        """Record one measurement and print a one-line summary."""
        row.update(scenario=scenario, cell=cell, framework=fw, round=rnd)
        self.rows.append(row)
        brief = {
            k: row[k] for k in ("rps", "cpu_us", "p99_ms", "mbps", "bytes_per_conn") if k in row
        }
        shown = ", ".join(
            f"{k}={v:,.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in brief.items()
        )
        log(f"  r{rnd} {scenario}/{cell} {fw}: {shown}")


def check(port: int, method: str, path: str, body: bytes | None, ctype: str, want: bytes) -> None:
    """One request like the cell's; raise RuntimeError unless 200 with a body starting ``want``."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request(method, path, body=body, headers={"Content-Type": ctype} if body else {})
        r = c.getresponse()
        got = r.read()
    finally:
        c.close()
    if r.status != 200 or not got.startswith(want):
        raise RuntimeError(f"{method} {path} answered {r.status} {got[:80]!r}, expected {want!r}")


FORM_CT = "application/x-www-form-urlencoded"
CHECKS: dict[str, list[tuple[str, str, bytes | None, str, bytes]]] = {
    # app scenario -> requests that must succeed before any wrk run
    "hello": [
        ("GET", "/plaintext", None, "", b"Hello, World!"),
        ("GET", "/json", None, "", b'{"message"'),
    ],
    "routing": [
        ("GET", "/s7", None, "", b"static"),
        ("GET", "/p24/1024/item", None, "", b"1024:item"),
    ],
    "form": [
        ("POST", "/form", b"a=1&name=squall&b=2", FORM_CT, b"squall"),
        ("POST", "/upload", b"u" * UPLOAD_BYTES, "application/octet-stream", b"1048576"),
    ],
    "large": [("GET", "/b/64k", None, "", b"x" * 65536), ("GET", "/n/64k", None, "", b"x" * 65536)],
    "cpu": [("GET", "/cpu", None, "", b"")],
    "blocking": [("GET", "/d", None, "", b"static")],
}


def wrk_cells(
    ctx: Ctx,
    scenario: str,
    fw: str,
    rnd: int,
    cells: list[tuple[str, str, str, int]],
    label: str,
    **kw: Any,
) -> None:
    """Start ``fw`` for app ``scenario``, check its answers, then run each (cell, path, script,
    conns) through wrk; rows are recorded under ``label``."""
    srv = ctx.server(fw, scenario, **kw)
    srv.start()
    try:
        for req in CHECKS.get(scenario, []):
            check(srv.port, *req)
        for cell, path, script, conns in cells:
            row = run_wrk(srv, path, ctx.scripts[script], conns, ctx.args.duration, 1)
            ctx.add(label, cell, fw, rnd, row)
    finally:
        srv.stop()


def sc_hello(ctx: Ctx, fw: str, rnd: int) -> None:
    """Scenario 1: /plaintext and /json."""
    cells = [("/plaintext", "/plaintext", "plain", 64), ("/json", "/json", "plain", 64)]
    wrk_cells(ctx, "hello", fw, rnd, cells, "hello")


def sc_routing(ctx: Ctx, fw: str, rnd: int) -> None:
    """Scenario 2: 50 routes, requests spread round-robin over them."""
    wrk_cells(ctx, "routing", fw, rnd, [("50 routes", "/", "routing", 64)], "routing")


def sc_forms(ctx: Ctx, fw: str, rnd: int) -> None:
    """Scenario 3: 4 KiB urlencoded form, 1 MiB upload."""
    cells = [("4 KiB form", "/form", "form", 64), ("1 MiB upload", "/upload", "upload", 16)]
    wrk_cells(ctx, "form", fw, rnd, cells, "forms")
    for row in ctx.rows[-2:]:
        if row["cell"] == "1 MiB upload" and row.get("rps"):
            row["mbps"] = row["rps"] * UPLOAD_BYTES / 1e6


def sc_large(ctx: Ctx, fw: str, rnd: int) -> None:
    """Scenario 4: 64 KiB and 16 MiB responses, MB/s."""
    cells = [
        ("64 KiB body", "/b/64k", "plain", 16),
        ("16 MiB body", "/b/16m", "plain", 4),
        ("64 KiB, no ETag", "/n/64k", "plain", 16),
        ("16 MiB, no ETag", "/n/16m", "plain", 4),
    ]
    wrk_cells(ctx, "large", fw, rnd, cells, "large")
    sizes = (64 * 1024, 16 * 1024 * 1024) * 2
    for row, size in zip(ctx.rows[-4:], sizes, strict=True):
        row["mbps"] = row["rps"] * size / 1e6 if row.get("rps") else None


def sc_latency(ctx: Ctx, fw: str, rnd: int) -> None:
    """Scenario 5: latency at a fixed (think-time paced) rate below saturation."""
    cells = [(f"~{ctx.args.rate} req/s", "/plaintext", "latency", 16)]
    wrk_cells(ctx, "hello", fw, rnd, cells, "latency")


def sc_scaling(ctx: Ctx, fw: str, rnd: int) -> None:
    """Scenario 6: ~2 ms CPU-bound handler, 1 and 2 workers."""
    for workers, cpus in ((1, "0"), (2, "0,1")):
        cells = [(f"{workers} worker(s)", "/cpu", "plain", 8)]
        wrk_cells(ctx, "cpu", fw, rnd, cells, "scaling", workers=workers, cpus=cpus)
    if fw == "squall":
        # One SO_REUSEPORT socket per worker: the kernel spreads connections by address hash,
        # instead of whichever worker wakes first taking a whole burst from the shared socket.
        cells = [("2 worker(s), reuse_port", "/cpu", "plain", 8)]
        wrk_cells(ctx, "cpu", fw, rnd, cells, "scaling", workers=2, cpus="0,1", mode="reuseport")


def open_idle(port: int, n: int) -> list[socket.socket]:
    """Open ``n`` keep-alive connections, each after one complete request; return them open."""
    req = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    socks: list[socket.socket] = []
    batch = 200
    try:
        while len(socks) < n:
            group = []
            for _ in range(min(batch, n - len(socks))):
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
                s.sendall(req)
                group.append(s)
                socks.append(s)
            for s in group:
                data = b""
                while b"Hello, World!" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        raise RuntimeError("server closed an idle-test connection early")
                    data += chunk
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def sc_memory(ctx: Ctx, fw: str, rnd: int) -> None:
    """Scenario 7: idle RSS, and bytes per idle keep-alive connection."""
    srv = ctx.server(fw, "hello")
    srv.start()
    try:
        pid = srv.pgid
        for _ in range(20):
            http_get(srv.port, "/plaintext")
        time.sleep(0.5)
        idle = rss_bytes(pid)
        n = ctx.args.connections
        socks = open_idle(srv.port, n)
        try:
            time.sleep(1.0)
            loaded = rss_bytes(pid)
            fds = fd_count(pid)
        finally:
            for s in socks:
                s.close()
        row: Row = {
            "idle_rss_mib": idle / 2**20,
            "loaded_rss_mib": loaded / 2**20,
            "bytes_per_conn": (loaded - idle) / n,
            "connections": n,
            "server_fds": fds,
        }
        ctx.add("memory", f"{n} idle conns", fw, rnd, row)
    finally:
        srv.stop()


def _holder(port: int, stop: threading.Event, done: list[int]) -> None:
    """Keep one ``GET /s`` in flight until ``stop`` is set."""
    while not stop.is_set():
        try:
            status, _ = http_get(port, "/s", timeout=30)
            done.append(status)
        except OSError:
            time.sleep(0.05)


def sc_blocking(ctx: Ctx, fw: str, rnd: int) -> None:
    """Scenario 8: /d latency while /s handlers sleep (sync, threaded, async)."""
    if fw == "uvicorn_starlette":
        return
    for mode in ("sync", "threaded", "async"):
        srv = ctx.server(fw, "blocking", mode=mode)
        srv.start()
        try:
            for req in CHECKS["blocking"]:
                check(srv.port, *req)
        except BaseException:
            srv.stop()
            raise
        stop = threading.Event()
        done: list[int] = []
        holders = [
            threading.Thread(target=_holder, args=(srv.port, stop, done), daemon=True)
            for _ in range(BLOCKING_HOLDERS)
        ]
        try:
            for t in holders:
                t.start()
            time.sleep(0.2)
            row = run_wrk(srv, "/d", ctx.scripts["plain"], 4, ctx.args.duration, 1)
        finally:
            stop.set()
            for t in holders:
                t.join(timeout=10)
            srv.stop()
        row["slow_done"] = len(done)
        ctx.add("blocking", f"/d while /s {mode}", fw, rnd, row)


SCENARIOS: dict[int, Callable[[Ctx, str, int], None]] = {
    1: sc_hello,
    2: sc_routing,
    3: sc_forms,
    4: sc_large,
    5: sc_latency,
    6: sc_scaling,
    7: sc_memory,
    8: sc_blocking,
}


# ------------------------------------------------------------------------------ report
def machine_info() -> str:
    """One line: CPUs, model, memory, kernel, OS."""
    model, mem = "?", "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return f"{os.cpu_count()} CPUs `{model}`, {mem} RAM, Linux {platform.release()}"


def versions(pythons: dict[str, str]) -> list[str]:
    """Interpreter, package and wrk versions."""
    out = []
    sq = pythons["squall"]
    code = "import sys, squall; print(sys.version.split()[0], squall.version)"
    res = subprocess.run([sq, "-c", code], capture_output=True, text=True, cwd=REPO).stdout.split()
    if len(res) == 2:
        out.append(f"squall {res[1]} on Python {res[0]} (`{sq}`)")
    peer = pythons["tornado"]
    code = (
        "import importlib.metadata as m, sys\nprint(sys.version.split()[0])\n"
        f"for p in {VERSION_PACKAGES!r}:\n"
        "    try: print(p, m.version(p))\n    except m.PackageNotFoundError: pass\n"
    )
    lines = subprocess.run([peer, "-c", code], capture_output=True, text=True).stdout.splitlines()
    if lines:
        out.append(f"peers on Python {lines[0]} (`{peer}`): " + ", ".join(lines[1:]))
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    out.append((wrk.stdout + wrk.stderr).splitlines()[0] if (wrk.stdout + wrk.stderr) else "wrk ?")
    return out


def median(xs: list[Any]) -> float | None:
    """Median of the non-None values, or None."""
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def summarize(rows: list[Row]) -> dict[tuple[str, str, str], Row]:
    """Median per (scenario, cell, framework) of every numeric field; per-round req/s kept."""
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["cell"], r["framework"]), []).append(r)
    summ = {}
    for key, rs in groups.items():
        s: Row = {"n": len(rs), "rounds_rps": [r.get("rps") for r in rs]}
        for k in {k for r in rs for k, v in r.items() if isinstance(v, (int, float))}:
            if k != "round":
                s[k] = median([r.get(k) for r in rs])
        summ[key] = s
    return summ


def _f(x: Any, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    # scenario -> [(header, key, format)]
    "default": [
        ("req/s", "rps", ",.0f"),
        ("CPU µs/req", "cpu_us", ".1f"),
        ("p50 ms", "p50_ms", ".2f"),
        ("p99 ms", "p99_ms", ".2f"),
        ("other procs CPU %", "other_cpu_pct", ".0f"),
    ],
    "large": [
        ("req/s", "rps", ",.1f"),
        ("MB/s", "mbps", ",.0f"),
        ("CPU µs/req", "cpu_us", ",.0f"),
        ("p99 ms", "p99_ms", ".1f"),
        ("other procs CPU %", "other_cpu_pct", ".0f"),
    ],
    "latency": [
        ("req/s (achieved)", "rps", ",.0f"),
        ("p50 ms", "p50_ms", ".2f"),
        ("p99 ms", "p99_ms", ".2f"),
        ("p99.9 ms", "p999_ms", ".2f"),
        ("max ms", "max_ms", ".2f"),
        ("CPU µs/req", "cpu_us", ".1f"),
        ("other procs CPU %", "other_cpu_pct", ".0f"),
    ],
    "memory": [
        ("idle RSS MiB", "idle_rss_mib", ".1f"),
        ("RSS with conns MiB", "loaded_rss_mib", ".1f"),
        ("bytes/conn", "bytes_per_conn", ",.0f"),
        ("server fds", "server_fds", ",.0f"),
    ],
    "blocking": [
        ("/d req/s", "rps", ",.0f"),
        ("/d p50 ms", "p50_ms", ".2f"),
        ("/d p99 ms", "p99_ms", ".2f"),
        ("/d p99.9 ms", "p999_ms", ".2f"),
        ("/s done", "slow_done", ".0f"),
        ("other procs CPU %", "other_cpu_pct", ".0f"),
    ],
}
COLUMNS["forms"] = COLUMNS["default"] + [("MB/s", "mbps", ",.0f")]
COLUMNS["scaling"] = COLUMNS["default"]


def render(ctx: Ctx, summ: dict[tuple[str, str, str], Row], meta: dict[str, Any]) -> str:
    """The Markdown report."""
    a = ctx.args
    out = [f"# squall benchmark suite — {meta['date']}", ""]
    if a.quick or a.rounds < 3:
        out += ["> **Smoke run** (few rounds / short cells): numbers are indicative only.", ""]
    out += [f"- Machine: {machine_info()}; load average at start: {meta['loadavg']}"]
    out += [f"- {v}" for v in meta["versions"]]
    if meta["builds"]:
        out += ["- Builds of squall: " + "; ".join(meta["builds"])]
    out += [
        f"- Runner: `{meta['argv']}` — {a.rounds} round(s), {a.duration:g} s per cell, "
        f"server on CPU 0 (`taskset -c 0`), `wrk -t1` on CPU 1; frameworks interleaved "
        f"(start rotates per round); each figure is the median over rounds. "
        "CPU µs/req = server process group utime+stime / requests; other procs CPU % = CPU "
        "used meanwhile by every other process (other sessions' work: near 0 on a quiet "
        "machine, 100 = one whole core taken). "
        f"Wall time {meta['wall']:.0f} s.",
        f"- CPU-bound handler loop count `BENCH_CPU_N={ctx.env['BENCH_CPU_N']}` (~2 ms); "
        f"`BENCH_SLEEP_S={ctx.env['BENCH_SLEEP_S']}`.",
        "",
    ]
    fws = [f for f in FRAMEWORKS if f in a.frameworks]
    scen_order = [SCENARIO_NAMES[i] for i in a.scenarios]
    titles = {
        "hello": "1. Hello world",
        "routing": "2. Routing (50 routes, half regex with 2 path args, round-robin)",
        "forms": "3. Forms and uploads",
        "large": "4. Large responses",
        "latency": f"5. Latency at ~{a.rate} req/s (wrk `delay()` pacing, 16 conns; wrk2 not "
        "in Debian: closed loop, coordinated omission not corrected)",
        "scaling": "6. Multi-process scaling (~2 ms pure-Python handler, wrk -c8)",
        "memory": f"7. Memory ({a.connections:,} idle keep-alive connections)",
        "blocking": f"8. Seed scenario: /d while {BLOCKING_HOLDERS} × /s sleep "
        f"{ctx.env['BENCH_SLEEP_S']} s (wrk -c4 on /d)",
    }
    for scen in scen_order:
        cells = list(dict.fromkeys(c for (s, c, _f_) in summ if s == scen))
        if not cells:
            continue
        cols = COLUMNS.get(scen, COLUMNS["default"])
        out += [f"## {titles[scen]}", ""]
        ratio = scen not in ("memory", "blocking", "latency")
        peers = ["tornado", "uvicorn_starlette"]
        if any(s == scen and f == "raw_uvloop" for (s, _c, f) in summ):
            peers.append("raw_uvloop")
        head = "| cell | framework | " + " | ".join(h for h, _, _ in cols)
        if ratio:
            head += "".join(f" | × {p}" for p in peers) + " | req/s per round | errors |"
        else:
            head += " |"
        out += [head, "|---|---|" + "---:|" * (head.count("|") - 3)]
        for cell in cells:
            for fw in fws:
                s = summ.get((scen, cell, fw))
                if s is None:
                    continue
                line = f"| {cell} | {fw} | " + " | ".join(_f(s.get(k), f) for _, k, f in cols)
                if ratio:
                    for peer in peers:
                        other = summ.get((scen, cell, peer), {}).get("rps")
                        mine = s.get("rps")
                        line += " | " + (f"{mine / other:.2f}" if mine and other else "n/a")
                    rr = " / ".join(_f(x, ",.0f") for x in s["rounds_rps"])
                    line += f" | {rr} | {_f(s.get('errors'), '.0f')}"
                out.append(line + " |")
        pure = [
            f"{cell} **{sq / pu:.2f}**"
            for cell in cells
            if (sq := summ.get((scen, cell, "squall"), {}).get("rps"))
            and (pu := summ.get((scen, cell, "squall_pure"), {}).get("rps"))
        ]
        if pure:
            out += ["", "- req/s of squall (compiled) / squall_pure: " + ", ".join(pure)]
        if scen == "scaling":
            out += [""]
            for fw in fws:
                one = summ.get((scen, "1 worker(s)", fw), {}).get("rps")
                two = summ.get((scen, "2 worker(s)", fw), {}).get("rps")
                if one and two:
                    out.append(f"- {fw}: 2 workers / 1 worker = **{two / one:.2f}** (ideal 2.0)")
                spread = summ.get((scen, "2 worker(s), reuse_port", fw), {}).get("rps")
                if one and spread:
                    out.append(
                        f"- {fw} with one reuse_port socket per worker: 2 workers / 1 worker = "
                        f"**{spread / one:.2f}**"
                    )
            splits = [
                f"{r['framework']} r{r['round']}: {r['cpu_split']}"
                for r in ctx.rows
                if r["scenario"] == "scaling" and r["cell"].startswith("2")
            ]
            out.append(
                "- CPU seconds per process during the 2-worker runs (an uneven split means "
                "the kernel handed most connections to one worker): " + "; ".join(splits)
            )
        out.append("")
    if meta.get("chart"):
        out += [f"![req/s relative to Tornado]({os.path.basename(meta['chart'])})", ""]
    if meta["failures"]:
        out += ["## Failures", ""] + [f"- {f}" for f in meta["failures"]] + [""]
    out += [
        "## Exact commands",
        "",
        "Servers (env: "
        + ", ".join(f"`{k}={v}`" for k, v in ctx.env.items())
        + "; `PYTHONPATH=<repo>`, squall_pure: `bench/.pure`, a copy of `squall/` without "
        "compiled modules):",
        "",
    ]
    out += [f"- {k}: `{v}`" for k, v in sorted(ctx.commands.items())]
    wrk_cmds = sorted(
        {
            r["command"].rsplit(" ", 1)[0].replace(str(a.port), "PORT") + " URL"
            for r in ctx.rows
            if "command" in r
        }
    )
    out += ["", "wrk (Lua scripts in `bench/results/raw/lua/`):", ""]
    out += [f"- `{c}`" for c in wrk_cmds]
    out += ["", f"Raw data with every wrk output: `{os.path.relpath(meta['raw'], REPO)}`.", ""]
    return "\n".join(out).replace(REPO + "/", "")


def make_chart(ctx: Ctx, summ: dict[tuple[str, str, str], Row], peer_python: str) -> str | None:
    """Draw the chart with ``bench/chart.py`` (in the peers' venv, which has matplotlib)."""
    bars = []
    for (scen, cell, fw), s in summ.items():
        if s.get("rps") and scen not in ("memory", "blocking", "latency"):
            bars.append({"label": f"{scen}: {cell}", "framework": fw, "rps": s["rps"]})
    if not bars:
        return None
    data = os.path.join(RAW, "chart-input.json")
    with open(data, "w") as f:
        json.dump(bars, f)
    res = subprocess.run(
        [peer_python, os.path.join(HERE, "chart.py"), data, os.path.join(RESULTS, "latest")],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        log(f"chart failed: {res.stderr.strip()[-500:]}")
        return None
    return res.stdout.strip().splitlines()[-1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(
        description="squall (compiled and pure Python) vs Tornado vs uvicorn+Starlette vs a raw "
        "uvloop+httptools ceiling, side by side (issue 7).",
        epilog="Scenarios: " + ", ".join(f"{k}={v}" for k, v in SCENARIO_NAMES.items()),
    )
    p.add_argument(
        "--scenarios",
        default="1,2,3,4,5,6,7,8",
        help="comma-separated scenario numbers (default: all)",
    )
    p.add_argument(
        "--frameworks",
        default=",".join(FRAMEWORKS),
        help="comma-separated subset of "
        + ", ".join(FRAMEWORKS)
        + " (squall_pure runs in scenarios 1-2 only, raw_uvloop in 1 only)",
    )
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per wrk cell (default 8)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 round, 2 s cells, 1,000 idle connections, 0.2 s sleeps",
    )
    p.add_argument(
        "--connections",
        type=int,
        default=10_000,
        help="idle keep-alive connections for scenario 7 (default 10,000)",
    )
    p.add_argument(
        "--rate", type=int, default=2000, help="target req/s of scenario 5 (default 2,000)"
    )
    p.add_argument("--port", type=int, default=8765, help="server port (default 8765)")
    p.add_argument(
        "--no-build",
        action="store_true",
        help="do not run scripts/build-ext first: squall runs whatever build is in place "
        "(reported, not enforced)",
    )
    p.add_argument(
        "--squall-python",
        default=default_squall_python(),
        help="interpreter that runs squall (default: the repo's .venv)",
    )
    a = p.parse_args(argv)
    if a.quick:
        a.rounds, a.duration, a.connections = 1, 2.0, min(a.connections, 1000)
    try:
        a.scenarios = [int(x) for x in a.scenarios.split(",") if x.strip()]
    except ValueError:
        p.error(f"--scenarios takes numbers like 1,4,8, not {a.scenarios!r}")
    if bad := [s for s in a.scenarios if s not in SCENARIOS]:
        p.error(f"unknown scenario(s) {bad}: choose from 1-8")
    a.frameworks = [f.strip() for f in a.frameworks.split(",") if f.strip()]
    if bad_fw := [f for f in a.frameworks if f not in FRAMEWORKS]:
        p.error(f"unknown framework(s) {bad_fw}: choose from {', '.join(FRAMEWORKS)}")
    return a


def main(argv: list[str] | None = None) -> int:
    """Run the suite; write the report, chart and raw data; return an exit status."""
    a = parse_args(argv)
    os.makedirs(RAW, exist_ok=True)
    started = time.monotonic()
    with open("/proc/loadavg") as f:
        loadavg = " ".join(f.read().split()[:3])
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    fws = [f for f in FRAMEWORKS if f in a.frameworks]
    builds: list[str] = []
    if "squall" in fws or "squall_pure" in fws:
        try:
            if not a.no_build:
                build_compiled(a.squall_python)
            export_pure()
            builds = check_builds(a.squall_python, fws, strict=not a.no_build)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            log(f"cannot prepare the squall builds: {e}")
            return 2
    peer_py = ensure_peers_venv(sys.executable)
    pythons = {
        "squall": a.squall_python,
        "squall_pure": a.squall_python,
        "tornado": peer_py,
        "uvicorn_starlette": peer_py,
        "raw_uvloop": peer_py,
    }
    limit = raise_nofile()
    if 7 in a.scenarios and limit < a.connections + 200:
        log(f"open-file limit {limit} < {a.connections} + 200: lowering --connections")
        a.connections = max(100, limit - 200)
    env = {
        "BENCH_CPU_N": str(calibrate_cpu_n(a.squall_python)),
        "BENCH_SLEEP_S": "0.2" if a.quick else "0.5",
    }
    ctx = Ctx(a, pythons, make_scripts(a.rate), env, [], {})
    failures = []
    for rnd in range(1, a.rounds + 1):
        log(f"round {rnd}/{a.rounds}")
        for num in a.scenarios:
            here = [f for f in fws if num in ONLY_IN.get(f, SCENARIOS)]
            if not here:
                continue
            shift = (rnd - 1) % len(here)
            for fw in here[shift:] + here[:shift]:
                try:
                    SCENARIOS[num](ctx, fw, rnd)
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    failures.append(
                        f"round {rnd}, scenario {num} ({SCENARIO_NAMES[num]}), {fw}: {e}"
                    )
                    log(f"  FAILED: {failures[-1]}")
    summ = summarize(ctx.rows)
    raw = os.path.join(RAW, f"run-{stamp}.json")
    with open(raw, "w") as f:
        json.dump(
            {"argv": sys.argv, "env": env, "rows": ctx.rows, "failures": failures}, f, indent=1
        )
    meta = {
        "date": stamp,
        "loadavg": loadavg,
        "argv": shlex.join(
            ["python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "versions": versions(pythons),
        "builds": builds,
        "wall": time.monotonic() - started,
        "failures": failures,
        "raw": raw,
        "chart": make_chart(ctx, summ, peer_py),
    }
    report = render(ctx, summ, meta)
    with open(os.path.join(RESULTS, "latest.md"), "w") as f:
        f.write(report)
    with open(os.path.join(RAW, f"run-{stamp}.md"), "w") as f:
        f.write(report)
    log(f"wrote {os.path.join(RESULTS, 'latest.md')} and {raw}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
