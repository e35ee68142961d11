"""``squall serve``'s options: parsing, environment variables, and every check of a value.

Each option also comes from an environment variable (``--port`` from ``SQUALL_PORT``); the
command line wins. Values are checked here, before anything is bound or forked: a bad value or
combination raises :class:`UsageError` with one line naming the option (or the variable) and
what to do, and the command exits 2.
"""

from __future__ import annotations

import argparse
import grp
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from squall._http1.context import TrustedProxies

__all__ = [
    "EPILOG",
    "ServeOptions",
    "UsageError",
    "add_serve_parser",
    "env_name",
    "parse_size",
    "resolve",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_SIZE = re.compile(r"(\d+)\s*([kmg]i?b?|b)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3}
_CERT_REQS = {"none": 0, "optional": 1, "required": 2, "0": 0, "1": 1, "2": 2}

EPILOG = """\
signals (to the master): TERM/INT graceful shutdown (a second one: quick), QUIT quick,
HUP rolling restart (new code, TLS certificates re-read; aborted if a new worker fails to
boot), TTIN/TTOU one worker more/less, USR1 reopen log files.

exit status: 0 clean shutdown; 1 a worker was killed at the shutdown deadline, or a listener
could not be opened; 2 usage error (a bad option or value; nothing was started); 3 the app
cannot boot (import error, syntax error, a factory that failed or returned something that
cannot serve); 4 a worker's own boot failure, with --workers 0 reported as 3.
See docs/deployment.md."""


class UsageError(Exception):
    """A bad option, value or combination: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (raised, so the caller prints and exits 2)."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting."""
        raise UsageError(message)


def env_name(flag: str) -> str:
    """``--max-body-size`` -> ``SQUALL_MAX_BODY_SIZE``."""
    return "SQUALL_" + flag.lstrip("-").replace("-", "_").upper()


# -- value types (each raises ValueError with the reason; the caller names the option) --------


def _int(text: str, low: int | None = None, high: int | None = None, what: str = "") -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"invalid int value: {text!r}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{value} is out of range: {what or 'expected'} {span}")
    return value


def _seconds(text: str, positive: bool = False) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"invalid number of seconds: {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"invalid number of seconds: {text!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{text} is out of range: seconds {'> 0' if positive else '>= 0'}")
    return value


def parse_size(text: str) -> int:
    """A size in bytes: ``1048576``, ``512k``, ``10M``, ``1GiB`` (k/M/G = 1000s, Ki/Mi/Gi =
    1024s); must be positive."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"invalid size {text!r}: use bytes, or a number with k, M, G, Ki, Mi, Gi")
    number, unit = int(match.group(1)), (match.group(2) or "").lower().removesuffix("b")
    if unit.endswith("i"):
        factor: int = 1024 ** ("kmg".index(unit[0]) + 1)
    else:
        factor = _UNITS[unit]
    if number <= 0:
        raise ValueError(f"{text} is out of range: a size must be positive")
    return number * factor


def _mode(text: str) -> int:
    try:
        value = int(text.strip(), 8)
    except ValueError:
        raise ValueError(f"invalid file mode {text!r}: use octal digits like 0660") from None
    if not 0 <= value <= 0o777:
        raise ValueError(f"invalid file mode {text!r}: between 000 and 777")
    return value


def _group(text: str) -> int:
    name = text.strip()
    if name.isdigit():
        return int(name)
    try:
        gid: int = grp.getgrnam(name).gr_gid
        return gid
    except KeyError:
        raise ValueError(f"no such group: {name!r}") from None


def _trust(text: str) -> TrustedProxies:
    return TrustedProxies.parse(text)


def _cert_reqs(text: str) -> int:
    value = _CERT_REQS.get(text.strip().lower())
    if value is None:
        raise ValueError(f"{text!r}: use none, optional or required (or 0, 1, 2)")
    return value


def _root_path(text: str) -> str:
    path = text.strip().rstrip("/")
    if path and not path.startswith("/"):
        raise ValueError(f"{text!r} must start with '/' (like /api)")
    if any(c in path for c in "?# \t"):
        raise ValueError(f"{text!r} must be a plain path (no query, fragment or spaces)")
    return path


def _workers(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(f"expected a number >= 0 or 'auto', got {text!r}")
    return count


def _access_format(text: str) -> str:
    from squall._cli.logsetup import check_access_format

    check_access_format(text)
    return text


def _choice(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"invalid choice {text!r}: use one of {', '.join(choices)}")
        return value

    return convert


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


@dataclass(frozen=True)
class _Spec:
    flags: tuple[str, ...]
    convert: Callable[[str], Any] | None  # None: a switch (--x / --no-x)
    default: Any
    help: str
    metavar: str | None = None
    repeat: bool = False
    group: str = "serving"

    @property
    def dest(self) -> str:
        return self.flags[0].lstrip("-").replace("-", "_")

    @property
    def envs(self) -> tuple[str, ...]:
        return tuple(env_name(flag) for flag in self.flags)


def _port(text: str) -> int:
    return _int(text, 0, 65535, "a port number")


SPECS: tuple[_Spec, ...] = (
    # -- where to listen
    _Spec(("--host",), str, "127.0.0.1", "the address to listen on", group="listening"),
    _Spec(("--port",), _port, 8000, "the TCP port (0: any free port, logged at startup)",
          group="listening"),
    _Spec(("--unix-socket",), str, None, "listen on this unix socket path instead of TCP",
          "PATH", group="listening"),
    _Spec(("--unix-socket-mode",), _mode, 0o660, "permissions of the unix socket file (octal; "
          "0660 lets a proxy in the socket's group connect)", "MODE", group="listening"),
    _Spec(("--unix-socket-group",), _group, None, "group (name or id) of the unix socket file, "
          "such as the proxy's (www-data)", "GROUP", group="listening"),
    _Spec(("--fd",), lambda t: _int(t, 0, None, "a file descriptor"), None,
          "serve an already-listening socket on this file descriptor (inherited from a "
          "supervisor); systemd socket activation (LISTEN_FDS) is picked up without it",
          "N", group="listening"),
    _Spec(("--backlog",), lambda t: _int(t, 1, 1 << 20, "a queue length"), 2048,
          "the listen queue length (the kernel caps it at net.core.somaxconn)",
          group="listening"),
    _Spec(("--reuse-port",), None, False, "Linux: each worker binds its own SO_REUSEPORT "
          "listener (kernel load balancing) instead of sharing the master's",
          group="listening"),
    # -- processes
    _Spec(("--workers",), _workers, 1, "worker processes under a master: N, or 'auto' for the "
          "usable CPUs; 0 serves in this one process with no master (no HUP, reload, respawn or "
          "watchdog)", "N|auto", group="processes"),
    _Spec(("--graceful-timeout",), _seconds, 25.0, "seconds a shutdown may take from TERM, "
          "including draining in-flight requests; keep it below the orchestrator's grace period",
          group="processes"),
    _Spec(("--worker-timeout",), _seconds, 30.0, "seconds without a heartbeat before a worker "
          "whose event loop is blocked gets its stack dumped and is killed and replaced (0: off)",
          group="processes"),
    _Spec(("--boot-timeout",), lambda t: _seconds(t, positive=True), 60.0,
          "seconds a worker has to import the app and start", group="processes"),
    _Spec(("--shutdown-delay",), _seconds, 0.0, "seconds to keep serving after TERM while "
          "/readyz and worker.shutting_down say 503, before draining", group="processes"),
    _Spec(("--max-requests",), lambda t: _int(t, 0), 0, "replace a worker after this many "
          "requests, once its replacement is ready (0: never)", group="processes"),
    _Spec(("--max-requests-jitter",), lambda t: _int(t, 0), None, "add a random 0..N to each "
          "worker's --max-requests (default: 10%% of it)", "N", group="processes"),
    _Spec(("--reload",), None, False, "watch the source tree and do a rolling restart of all "
          "workers on change (watchfiles when installed, else polling); a broken change keeps "
          "the old workers serving", group="processes"),
    _Spec(("--reload-dir",), str, None, "directory to watch with --reload (repeatable; "
          "default: the app directory); the environment variable takes a list separated by "
          "the path separator", "DIR", repeat=True, group="processes"),
    _Spec(("--metrics-bind",), str, None, "the master serves /metrics (Prometheus), /livez, "
          "/readyz and a live status page at / on HOST:PORT (port 0: any free port, logged at "
          "startup); needs --workers 1 or more", "HOST:PORT", group="processes"),
    _Spec(("--app-dir",), str, ".", "directory put first on sys.path to import APP",
          group="processes"),
    _Spec(("--tornado-alias",), None, False, "run unmodified Tornado code: every `tornado` "
          "import is squall's module (installed before APP is imported)", group="processes"),
    # -- TLS
    _Spec(("--ssl-certfile",), str, None, "serve HTTPS with this PEM certificate (chain)",
          "FILE", group="tls"),
    _Spec(("--ssl-keyfile",), str, None, "its private key (PEM; default: in the certfile)",
          "FILE", group="tls"),
    _Spec(("--ssl-keyfile-password",), str, None, "the password of an encrypted key file",
          "PASSWORD", group="tls"),
    _Spec(("--ssl-ca-certs",), str, None, "CA certificates (PEM) to verify client "
          "certificates with", "FILE", group="tls"),
    _Spec(("--ssl-cert-reqs",), _cert_reqs, 0, "client certificates: none (0), optional (1) "
          "or required (2); needs --ssl-ca-certs", "none|optional|required", group="tls"),
    _Spec(("--ssl-ciphers",), str, None, "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are "
          "OpenSSL's defaults)", "CIPHERS", group="tls"),
    # -- limits
    _Spec(("--max-body-size",), parse_size, None, "largest request body (bytes; 10M, 1GiB "
          "...); beyond it 413 (default: 100 MiB)", "SIZE", group="limits"),
    _Spec(("--max-header-size",), parse_size, None, "largest request line plus headers; beyond "
          "it 431 (default: 64 KiB)", "SIZE", group="limits"),
    _Spec(("--keep-alive-timeout",), lambda t: _seconds(t, positive=True), None,
          "seconds an idle keep-alive connection stays open (default: 75)", group="limits"),
    _Spec(("--header-timeout",), lambda t: _seconds(t, positive=True), None,
          "seconds a client has to send a complete request head; then 408 (default: 10)",
          group="limits"),
    _Spec(("--body-timeout",), lambda t: _seconds(t, positive=True), None,
          "seconds a client has to send a whole body; then 408 (default: a minimum rate of "
          "500 bytes/s after 20 s)", group="limits"),
    _Spec(("--limit-concurrency",), lambda t: _int(t, 1, None, "requests"), None,
          "requests in flight per worker beyond which new requests get 503 with Retry-After "
          "(default: no limit)", "N", group="limits"),
    # -- proxies
    _Spec(("--xheaders", "--proxy-headers"), None, False, "take the client's address, scheme "
          "and host from X-Forwarded-For/-Proto/-Host, X-Real-Ip and Forwarded, only from "
          "--forwarded-allow-ips peers", group="proxies"),
    _Spec(("--forwarded-allow-ips",), _trust, None, "comma-separated addresses and CIDR "
          "networks (or *) of the proxies whose forwarding headers are believed (default: "
          "127.0.0.1; unix-socket peers always)", "IPS", group="proxies"),
    _Spec(("--root-path",), _root_path, "", "the path prefix the app is mounted under behind "
          "a proxy (like /api): stripped from request paths, told to the app as "
          "X-Forwarded-Prefix", "PATH", group="proxies"),
    _Spec(("--proxy-protocol",), None, False, "every connection starts with a PROXY protocol "
          "v1/v2 header (HAProxy, AWS NLB) giving the client's address", group="proxies"),
    # -- logging
    _Spec(("--access-log",), None, True, "log one line per request", group="logging"),
    _Spec(("--access-log-format",), _access_format, None, "the access line's template: "
          "{field} names from remote, method, path, status, bytes, duration_ms, user_agent, "
          "request_id, referer, protocol (format specs allowed: {duration_ms:.1f})",
          "TEMPLATE", group="logging"),
    _Spec(("--log-level",), _choice("debug", "info", "warning", "error", "critical"), "info",
          "the log level: debug, info, warning, error, critical", "LEVEL", group="logging"),
    _Spec(("--log-format",), _choice("text", "json"), "text", "text, or json: one object per "
          "line (time, level, logger, pid, message; access lines add the request's fields)",
          "text|json", group="logging"),
    _Spec(("--log-config",), str, None, "configure logging from a file instead: dictConfig as "
          "JSON or YAML (.json, .yaml, .yml), or fileConfig INI (any other name)", "FILE",
          group="logging"),
)  # fmt: skip

_GROUPS = {
    "listening": "where to listen",
    "processes": "processes",
    "tls": "TLS (HTTPS)",
    "limits": "limits",
    "proxies": "behind a proxy",
    "logging": "logging",
}


def add_serve_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` command to ``commands`` (an argparse subparsers object)."""
    serve: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="serve an Application with a supervised pool of worker processes",
        description="Serve APP: bind, fork the workers, supervise them.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    serve.add_argument(
        "app",
        metavar="APP",
        help="'module:attribute' naming an Application (or any HTTPServerConnectionDelegate, a "
        "callable taking a request, or an HTTPServer configured but not listening), or "
        "'module:factory()' naming a function (sync or async) that returns one; imported in "
        "each worker after the fork",
    )
    groups = {key: serve.add_argument_group(title) for key, title in _GROUPS.items()}
    for spec in SPECS:
        envs = " or ".join(spec.envs)
        if spec.convert is None:
            shown = "on" if spec.default else "off"
            groups[spec.group].add_argument(
                *spec.flags,
                dest=spec.dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{spec.help} (default: {shown}) [env {envs}]",
            )
            continue
        shown = _show_default(spec)
        groups[spec.group].add_argument(
            *spec.flags,
            dest=spec.dest,
            default=None,
            metavar=spec.metavar,
            action="append" if spec.repeat else "store",
            help=f"{spec.help}{shown} [env {envs}]",
        )
    return serve


def _show_default(spec: _Spec) -> str:
    if spec.default is None or spec.default == "":
        return ""
    if spec.flags[0] == "--unix-socket-mode":
        return f" (default: {spec.default:04o})"
    return f" (default: {spec.default})"


@dataclass
class ServeOptions:
    """The resolved options: every value converted and checked.

    ``explicit`` holds the names (``max_body_size``, ...) given on the command line or in the
    environment, as opposed to defaults; a factory's ``HTTPServer`` keeps its own settings for
    the others. ``cli`` holds those given on the command line."""

    app: str
    values: dict[str, Any]
    explicit: set[str] = field(default_factory=set)
    cli: set[str] = field(default_factory=set)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


def resolve(namespace: argparse.Namespace, environ: dict[str, str] | None = None) -> ServeOptions:
    """Convert and check every option (command line, else environment, else default).

    Raises :class:`UsageError` naming the option or variable at fault."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    explicit: set[str] = set()
    for spec in SPECS:
        given = getattr(namespace, spec.dest)
        flag = spec.flags[0]
        if given is not None:
            explicit.add(spec.dest)
            if spec.convert is None:
                values[spec.dest] = bool(given)
            elif spec.repeat:
                values[spec.dest] = [_convert(spec, item, f"argument {flag}") for item in given]
            else:
                values[spec.dest] = _convert(spec, given, f"argument {flag}")
            continue
        env_var = next((e for e in spec.envs if env.get(e, "").strip()), None)
        if env_var is None and spec.convert is None:
            env_var = next((e for e in spec.envs if e in env), None)
        if env_var is not None:
            explicit.add(spec.dest)
            raw = env[env_var]
            where = f"{env_var}={raw!r}"
            if spec.convert is None:
                values[spec.dest] = _convert(spec, raw, where, _bool)
            elif spec.repeat:
                items = [item for item in raw.split(os.pathsep) if item]
                values[spec.dest] = [_convert(spec, item, where) for item in items]
            else:
                values[spec.dest] = _convert(spec, raw, where)
        else:
            values[spec.dest] = spec.default
    cli = {spec.dest for spec in SPECS if getattr(namespace, spec.dest) is not None}
    options = ServeOptions(namespace.app, values, explicit, cli)
    _check_combinations(options)
    return options


def _convert(spec: _Spec, raw: str, where: str, convert: Callable[[str], Any] | None = None) -> Any:
    try:
        return (convert or spec.convert or str)(raw)
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _check_combinations(o: ServeOptions) -> None:
    app = o.app
    if ":" not in app or not all(app.partition(":")[::2]):
        raise UsageError(f"APP must look like 'module:app' or 'module:make_app()', not {app!r}")
    workers = o.workers
    given = o.explicit
    cli = o.cli
    if o.reload and workers == 0:
        raise UsageError("--reload needs the supervisor: use --workers 1 or more")
    if workers != 0 and sys.platform == "win32":
        raise UsageError("worker processes need fork(), which Windows lacks: use --workers 0")
    if o.metrics_bind:
        if workers == 0:
            raise UsageError("--metrics-bind is served by the master: use --workers 1 or more")
        from squall._supervisor.metrics import parse_bind

        try:
            parse_bind(o.metrics_bind)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if o.unix_socket:
        if o.reuse_port:
            raise UsageError("--reuse-port works with TCP only, not with --unix-socket")
        for name in ("host", "port"):
            if name in cli:
                raise UsageError(f"--{name} does not apply with --unix-socket: drop one of them")
    else:
        for name in ("unix_socket_mode", "unix_socket_group"):
            if name in given:
                raise UsageError(f"--{name.replace('_', '-')} needs --unix-socket")
    if o.fd is not None:
        for name in ("unix_socket", "reuse_port", "host", "port"):
            if name in cli and (name != "reuse_port" or o.reuse_port):
                flag = name.replace("_", "-")
                raise UsageError(f"--fd serves an inherited socket: --{flag} does not apply")
    if o.reuse_port and workers != 0 and sys.platform != "linux":
        raise UsageError("--reuse-port balances load on Linux only; drop it here")
    ssl_given = [name for name in given if name.startswith("ssl_") and name != "ssl_certfile"]
    if ssl_given and not o.ssl_certfile:
        flag = "--" + sorted(ssl_given)[0].replace("_", "-")
        raise UsageError(f"{flag} needs --ssl-certfile (the certificate to serve)")
    if o.ssl_cert_reqs and not o.ssl_ca_certs:
        raise UsageError("--ssl-cert-reqs optional/required needs --ssl-ca-certs to verify with")
    if o.proxy_protocol and o.ssl_certfile:
        raise UsageError(
            "--proxy-protocol in front of --ssl-certfile is not supported: terminate TLS at "
            "the proxy, or drop --proxy-protocol"
        )
    if "forwarded_allow_ips" in cli and not o.xheaders:
        raise UsageError("--forwarded-allow-ips has no effect without --xheaders (--proxy-headers)")
    if o.log_config:
        if not os.path.isfile(o.log_config):
            raise UsageError(f"--log-config: no such file: {o.log_config!r}")
        if "log_format" in cli:
            raise UsageError("--log-config configures logging itself: drop --log-format")
    if o.max_requests_jitter and not o.max_requests:
        raise UsageError("--max-requests-jitter needs --max-requests")
