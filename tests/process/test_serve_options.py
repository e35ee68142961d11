"""``squall serve`` options for production, each over a real server process and real sockets:
usage errors, TLS, limits, factories returning an ``HTTPServer``, proxies, boot errors.

Logging, inherited sockets and the status endpoints have their own files
(test_serve_logging.py, test_serve_sockets.py, test_status.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.process.apps.harness import (
    ROOT,
    Response,
    SquallFactory,
    _read_response,
    connect,
    get,
    squall,
    squall_env,
    wait_until,
)

__all__ = ["squall"]

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and Linux signals")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "squall", *args],
        cwd=ROOT,
        env=squall_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=30,
    )


def raw(port: int, data: bytes, source: str = "127.0.0.1", timeout: float = 5.0) -> Response:
    """Send ``data`` from ``source`` (another loopback address for an untrusted client)."""
    with socket.create_connection(("127.0.0.1", port), timeout, (source, 0)) as sock:
        sock.sendall(data)
        return _read_response(sock, bytearray())


def info(port: int, headers: dict[str, str] | None = None, source: str = "127.0.0.1",
         path: str = "/info") -> dict[str, Any]:  # fmt: skip
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    response = raw(port, f"GET {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\n\r\n"
                   .encode(), source)  # fmt: skip
    assert response.status == 200, response
    data: dict[str, Any] = json.loads(response.body)
    data["_response_request_id"] = response.headers.get("x-request-id")
    return data


# -- usage errors: one line, exit 2, nothing started ----------------------------------------

APP = "tests.process.apps.basic:app"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Files of a test CA and two server certificates (A and B) for 127.0.0.1."""
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    paths = {"ca": str(directory / "ca.pem")}
    ca.cert_pem.write_to_path(paths["ca"])
    for name in ("a", "b"):
        cert = ca.issue_cert("127.0.0.1", "localhost")
        paths[f"{name}_cert"] = str(directory / f"{name}.crt")
        paths[f"{name}_key"] = str(directory / f"{name}.key")
        cert.cert_chain_pems[0].write_to_path(paths[f"{name}_cert"])
        cert.private_key_pem.write_to_path(paths[f"{name}_key"])
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(Path(paths["a_key"]).read_bytes(), None)
    paths["a_enc_key"] = str(directory / "a.enc.key")
    Path(paths["a_enc_key"]).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    (directory / "bad.json").write_text("{not json")
    paths["bad_json"] = str(directory / "bad.json")
    return paths


USAGE_ERRORS: list[tuple[list[str], dict[str, str], str]] = [
    (["--port", "99999"], {}, "argument --port: 99999 is out of range"),
    (["--port", "http"], {}, "argument --port: invalid int value: 'http'"),
    (["--graceful-timeout", "-5"], {}, "argument --graceful-timeout: -5 is out of range"),
    (["--backlog", "-7"], {}, "argument --backlog: -7 is out of range"),
    (["--backlog", "0"], {}, "argument --backlog: 0 is out of range"),
    (["--shutdown-delay", "-2"], {}, "argument --shutdown-delay: -2 is out of range"),
    (["--boot-timeout", "0"], {}, "argument --boot-timeout"),
    (["--max-requests", "-1"], {}, "argument --max-requests"),
    (["--max-requests-jitter", "5"], {}, "--max-requests-jitter needs --max-requests"),
    (["--max-body-size", "lots"], {}, "argument --max-body-size: invalid size 'lots'"),
    (["--max-body-size", "0"], {}, "argument --max-body-size"),
    (["--max-header-size", "-1k"], {}, "argument --max-header-size"),
    (["--keep-alive-timeout", "0"], {}, "argument --keep-alive-timeout"),
    (["--header-timeout", "nan"], {}, "argument --header-timeout"),
    (["--body-timeout", "-1"], {}, "argument --body-timeout"),
    (["--limit-concurrency", "0"], {}, "argument --limit-concurrency"),
    (["--unix-socket-mode", "0999"], {}, "argument --unix-socket-mode: invalid file mode"),
    (["--unix-socket", "/tmp/x.sock", "--unix-socket-group", "no-such-group-here"], {},
     "argument --unix-socket-group: no such group"),
    (["--unix-socket-mode", "0600"], {}, "--unix-socket-mode needs --unix-socket"),
    (["--unix-socket", "/tmp/x.sock", "--port", "8080"], {}, "--port does not apply"),
    (["--fd", "-1"], {}, "argument --fd"),
    (["--fd", "3", "--unix-socket", "/tmp/x.sock"], {}, "--fd serves an inherited socket"),
    (["--fd", "97"], {}, "--fd 97: file descriptor 97 is not open"),
    (["--ssl-keyfile", "k.pem"], {}, "--ssl-keyfile needs --ssl-certfile"),
    (["--ssl-certfile", "/nonexistent.pem"], {}, "--ssl-certfile: no such file"),
    (["--ssl-certfile", "@a_cert", "--ssl-keyfile", "@b_key"], {}, "does not belong to"),
    (["--ssl-certfile", "@a_cert", "--ssl-keyfile", "@a_key", "--ssl-cert-reqs",
      "required"], {}, "--ssl-cert-reqs optional/required needs --ssl-ca-certs"),
    (["--ssl-certfile", "@a_cert", "--ssl-keyfile", "@a_enc_key"], {},
     "is encrypted: give --ssl-keyfile-password"),
    (["--ssl-certfile", "@a_cert", "--ssl-keyfile", "@a_key", "--ssl-cert-reqs", "maybe"],
     {}, "argument --ssl-cert-reqs"),
    (["--ssl-certfile", "@a_cert", "--ssl-keyfile", "@a_key", "--ssl-ciphers", "NOPE-NONE"],
     {}, "--ssl-ciphers 'NOPE-NONE'"),
    (["--ssl-certfile", "@a_cert", "--ssl-keyfile", "@a_key", "--proxy-protocol"], {},
     "--proxy-protocol in front of --ssl-certfile is not supported"),
    (["--xheaders", "--forwarded-allow-ips", "10.0.0.0/33"], {},
     "argument --forwarded-allow-ips: '10.0.0.0/33' is not an IP address"),
    (["--forwarded-allow-ips", "10.0.0.1"], {}, "has no effect without --xheaders"),
    (["--xheaders"], {"SQUALL_FORWARDED_ALLOW_IPS": "proxy.local"},
     "SQUALL_FORWARDED_ALLOW_IPS='proxy.local'"),
    (["--root-path", "api"], {}, "argument --root-path: 'api' must start with '/'"),
    (["--access-log-format", "{nope}"], {}, "argument --access-log-format: unknown field {nope}"),
    (["--log-format", "xml"], {}, "argument --log-format: invalid choice 'xml'"),
    (["--log-config", "/nonexistent.json"], {}, "--log-config: no such file"),
    (["--log-config", "@bad_json"], {}, "--log-config"),
    (["--metrics-bind", "nowhere"], {}, "--metrics-bind expects HOST:PORT"),
    (["--workers", "0", "--metrics-bind", "127.0.0.1:0"], {}, "--metrics-bind is served by"),
    ([], {"SQUALL_BACKLOG": "-3"}, "SQUALL_BACKLOG='-3': -3 is out of range"),
    ([], {"SQUALL_LOOP": "tokio"}, "SQUALL_LOOP='tokio' is not a known event loop"),
    (["--no-such-option"], {}, "unrecognized arguments: --no-such-option"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "env", "message"), USAGE_ERRORS)
def test_a_bad_value_is_one_line_naming_the_option_and_exit_2(
    args: list[str], env: dict[str, str], message: str, pki: dict[str, str]
) -> None:
    args = [pki.get(arg[1:], arg) if arg.startswith("@") else arg for arg in args]
    result = run_cli("serve", APP, *args, env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("squall serve: error: "), result.stderr
    assert message in lines[0]
    assert "Listening" not in result.stderr and "Traceback" not in result.stderr


def test_help_documents_the_exit_codes_and_every_group_of_options() -> None:
    result = run_cli("serve", "--help")
    text = " ".join(result.stdout.split())
    for fragment in (
        "exit status: 0 clean shutdown",
        "2 usage error",
        "3 the app cannot boot",
        "TLS (HTTPS):",
        "limits:",
        "behind a proxy:",
        "logging:",
    ):
        assert fragment in text, fragment


# -- TLS --------------------------------------------------------------------------------------


def tls_get(port: int, ca: str, path: str = "/info") -> tuple[Response, ssl.SSLSocket]:
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["h2", "http/1.1"])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    tls = context.wrap_socket(sock, server_hostname="127.0.0.1")
    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
    return _read_response(tls, bytearray()), tls


def served_certificate(port: int, ca: str) -> bytes:
    response, tls = tls_get(port, ca, "/pid")
    assert response.status == 200
    der = tls.getpeercert(binary_form=True)
    tls.close()
    assert der is not None
    return der


def der_of(path: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(Path(path).read_text())


def test_tls_serves_https_with_alpn_http11_and_rereads_certificates_on_hup(
    squall: SquallFactory, pki: dict[str, str], tmp_path: Path
) -> None:
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    cert.write_bytes(Path(pki["a_cert"]).read_bytes())
    key.write_bytes(Path(pki["a_key"]).read_bytes())
    server = squall("--workers", "2", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    server.wait_ready(2)
    response, tls = tls_get(server.port, pki["ca"])
    assert tls.selected_alpn_protocol() == "http/1.1"
    tls.close()
    assert response.status == 200 and json.loads(response.body)["protocol"] == "https"
    assert served_certificate(server.port, pki["ca"]) == der_of(pki["a_cert"])
    # Rotation: new files, HUP, the new workers serve the new certificate.
    cert.write_bytes(Path(pki["b_cert"]).read_bytes())
    key.write_bytes(Path(pki["b_key"]).read_bytes())
    server.send(signal.SIGHUP)
    server.wait_log("Rolling restart done: generation 1 is serving", 10)
    wait_until(
        lambda: served_certificate(server.port, pki["ca"]) == der_of(pki["b_cert"]),
        10,
        "the renewed certificate",
    )


def test_tls_single_process_reloads_the_certificate_in_place_on_hup(
    squall: SquallFactory, pki: dict[str, str], tmp_path: Path
) -> None:
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    cert.write_bytes(Path(pki["a_cert"]).read_bytes())
    key.write_bytes(Path(pki["a_key"]).read_bytes())
    server = squall("--workers", "0", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    assert served_certificate(server.port, pki["ca"]) == der_of(pki["a_cert"])
    cert.write_bytes(Path(pki["b_cert"]).read_bytes())
    key.write_bytes(Path(pki["b_key"]).read_bytes())
    server.send(signal.SIGHUP)
    server.wait_log("HUP: reloaded the TLS certificate")
    assert served_certificate(server.port, pki["ca"]) == der_of(pki["b_cert"])
    # A broken file on the next HUP keeps the certificate in use.
    key.write_text("not a key")
    server.send(signal.SIGHUP)
    server.wait_log("HUP: the TLS certificate was not reloaded")
    assert served_certificate(server.port, pki["ca"]) == der_of(pki["b_cert"])


# -- limits -----------------------------------------------------------------------------------


def post(port: int, size: int) -> Response:
    head = f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    return raw(port, head.encode() + b"x" * size)


def test_size_limits_from_the_command_line(squall: SquallFactory) -> None:
    server = squall("--max-body-size", "1k", "--max-header-size", "1Ki")
    server.wait_ready(1)
    assert post(server.port, 1000).text == "1000"
    assert post(server.port, 1001).status == 413
    big = "GET /pid HTTP/1.1\r\nHost: t\r\nX-Big: " + "a" * 1100 + "\r\n\r\n"
    assert raw(server.port, big.encode()).status == 431


def test_timeouts_from_the_command_line(squall: SquallFactory) -> None:
    server = squall(
        "--header-timeout", "0.5", "--keep-alive-timeout", "0.5", "--body-timeout", "0.5"
    )
    server.wait_ready(1)
    started = time.monotonic()
    assert raw(server.port, b"GET /pid HTTP/1.1\r\nHost: t\r\n").status == 408
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"x" * 10
    assert raw(server.port, head).status == 408
    with connect(server.port) as sock:
        sock.sendall(b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n")
        buffer = bytearray()
        assert _read_response(sock, buffer).status == 200
        assert sock.recv(100) == b""  # closed when idle for 0.5 s
    assert time.monotonic() - started < 5


def test_limit_concurrency_answers_503_with_retry_after(squall: SquallFactory) -> None:
    server = squall("--limit-concurrency", "1")
    server.wait_ready(1)
    with connect(server.port) as slow:
        slow.sendall(b"GET /sleep?s=1.5 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        overloaded = wait_until(lambda: _status_is(server.port, 503), 5, "a 503")
        assert isinstance(overloaded, Response)
        assert overloaded.headers["retry-after"] == "1"
        assert overloaded.headers["connection"] == "close"
        assert _read_response(slow, bytearray()).status == 200
    assert get(server.port, "/pid").status == 200  # under the cap again


def _status_is(port: int, status: int) -> Response | None:
    response = get(port, "/pid")
    return response if response.status == status else None


# -- what APP may be ---------------------------------------------------------------------------


def test_a_factory_returning_an_http_server_keeps_its_limits(squall: SquallFactory) -> None:
    server = squall("--workers", "2", app="tests.process.apps.basic:limited_server()")
    server.wait_ready(2)
    assert post(server.port, 100).text == "100"
    assert post(server.port, 101).status == 413
    # Its xheaders=True works end to end (127.0.0.1 is a trusted proxy by default).
    assert info(server.port, {"X-Real-Ip": "198.51.100.9"})["remote_ip"] == "198.51.100.9"


def test_command_line_limits_override_the_http_servers_own(squall: SquallFactory) -> None:
    server = squall("--max-body-size", "200", app="tests.process.apps.basic:limited_server()")
    server.wait_ready(1)
    assert post(server.port, 200).text == "200"
    assert post(server.port, 201).status == 413


def test_a_factory_returning_an_http_server_with_ssl_options_serves_https(
    squall: SquallFactory, pki: dict[str, str]
) -> None:
    env = {"SQUALL_TEST_CERT": pki["a_cert"], "SQUALL_TEST_KEY": pki["a_key"]}
    server = squall(app="tests.process.apps.basic:tls_server()", env=env)
    server.wait_ready(1)
    response, tls = tls_get(server.port, pki["ca"])
    tls.close()
    assert response.status == 200 and json.loads(response.body)["protocol"] == "https"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("not_an_app()", "gave int 42, which cannot serve"),
        ("listening_server()", "gave an HTTPServer that is already listening"),
        ("VERSION", "gave str 'v0', which cannot serve"),
    ],
)
def test_anything_else_is_refused_at_boot_with_one_line(
    squall: SquallFactory, target: str, message: str
) -> None:
    server = squall("--workers", "2", app=f"tests.process.apps.basic:{target}",
                    wait_listening=False)  # fmt: skip
    assert server.wait_exit(10) == 3
    log = server.log()
    assert log.count(message) == 1, log
    assert "Traceback" not in log and "Listening on" not in log


def test_a_syntax_error_is_shown_once_with_file_and_line(
    squall: SquallFactory, tmp_path: Path
) -> None:
    (tmp_path / "broken_app.py").write_text("from squall import web\n\ndef oops(:\n    pass\n")
    server = squall("--workers", "2", "--app-dir", str(tmp_path), app="broken_app:app",
                    wait_listening=False)  # fmt: skip
    assert server.wait_exit(10) == 3
    log = server.log()
    assert log.count(f"SyntaxError in {tmp_path / 'broken_app.py'}, line 3") == 1, log
    assert "def oops(:" in log and "Listening on" not in log
    assert len(log.splitlines()) < 15, log


# -- proxies ---------------------------------------------------------------------------------


def test_xheaders_are_honoured_only_from_trusted_peers(squall: SquallFactory) -> None:
    server = squall("--xheaders")
    server.wait_ready(1)
    spoof = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "example.org"}  # fmt: skip
    trusted = info(server.port, spoof)
    assert (trusted["remote_ip"], trusted["protocol"], trusted["host"]) == (
        "203.0.113.5",
        "https",
        "example.org",
    )
    direct = info(server.port, spoof, source="127.0.0.2")
    assert (direct["remote_ip"], direct["protocol"], direct["host"]) == (
        "127.0.0.2",
        "http",
        "test",
    )
    # RFC 7239, walked right to left past our own proxies.
    chain = {"Forwarded": 'for=198.51.100.1;proto=https, for="[2001:db8::7]:4711", for=127.0.0.1'}
    assert info(server.port, chain)["remote_ip"] == "2001:db8::7"


def test_forwarded_allow_ips_lists_the_trusted_proxies(squall: SquallFactory) -> None:
    server = squall("--proxy-headers", "--forwarded-allow-ips", "127.0.0.2, 10.0.0.0/8")
    server.wait_ready(1)
    headers = {"X-Forwarded-For": "203.0.113.5, 10.1.2.3"}
    assert info(server.port, headers, source="127.0.0.2")["remote_ip"] == "203.0.113.5"
    assert info(server.port, headers, source="127.0.0.1")["remote_ip"] == "127.0.0.1"


def test_forwarded_allow_ips_from_the_environment(squall: SquallFactory) -> None:
    server = squall("--xheaders", env={"SQUALL_FORWARDED_ALLOW_IPS": "*"})
    server.wait_ready(1)
    found = info(server.port, {"X-Real-Ip": "203.0.113.8"}, source="127.0.0.3")
    assert found["remote_ip"] == "203.0.113.8"


def test_root_path_is_stripped_and_told_to_the_app(squall: SquallFactory) -> None:
    server = squall("--root-path", "/api/")
    server.wait_ready(1)
    found = info(server.port, path="/api/info?x=1")
    assert (found["path"], found["uri"], found["prefix"]) == ("/info", "/info?x=1", "/api")
    # A path outside the prefix is served as it is (the proxy may strip the prefix itself).
    assert info(server.port, path="/info")["prefix"] is None
    assert raw(server.port, b"GET /apiary HTTP/1.1\r\nHost: t\r\n\r\n").status == 404


def test_unix_socket_mode_defaults_to_0660_and_takes_a_group(
    squall: SquallFactory, tmp_path: Path
) -> None:
    path = tmp_path / "a.sock"
    server = squall("--unix-socket", str(path), wait_listening=False)
    server.wait_ready(1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o660
    group = os.getgroups()[-1] if os.getgroups() else os.getgid()
    other = tmp_path / "b.sock"
    second = squall("--unix-socket", str(other), "--unix-socket-mode", "0640",
                    "--unix-socket-group", str(group), wait_listening=False)  # fmt: skip
    second.wait_ready(1)
    assert stat.S_IMODE(other.stat().st_mode) == 0o640 and other.stat().st_gid == group


def proxy_v2(source: str, port: int) -> bytes:
    body = socket.inet_aton(source) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", port, 80)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def test_proxy_protocol_gives_the_client_address(squall: SquallFactory) -> None:
    server = squall("--proxy-protocol", "--header-timeout", "1")
    server.wait_ready(1)
    request = b"GET /info HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    v1 = raw(server.port, b"PROXY TCP4 198.51.100.4 127.0.0.1 5555 80\r\n" + request)
    assert json.loads(v1.body)["remote_ip"] == "198.51.100.4"
    v2 = raw(server.port, proxy_v2("198.51.100.5", 5556) + request)
    assert json.loads(v2.body)["remote_ip"] == "198.51.100.5"
    local = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20, 0x00, 0, 0])  # a health check: LOCAL
    assert json.loads(raw(server.port, local + request).body)["remote_ip"] == "127.0.0.1"
    with pytest.raises(EOFError):  # no header: closed without an answer
        raw(server.port, request)
    server.wait_log("did not start with a PROXY protocol header")


def test_tls_client_certificates_an_encrypted_key_and_a_cipher_list(
    squall: SquallFactory, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("client@example.org")
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "s.crt", tmp_path / "s.key"
    ca.cert_pem.write_to_path(str(ca_file))
    server_cert.cert_chain_pems[0].write_to_path(str(cert_file))
    key = serialization.load_pem_private_key(server_cert.private_key_pem.bytes(), None)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    args = ["--ssl-certfile", str(cert_file), "--ssl-keyfile", str(key_file)]
    wrong = subprocess.run(
        [sys.executable, "-m", "squall", "serve", APP, *args, "--ssl-keyfile-password", "nope"],
        cwd=ROOT, env=squall_env(), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert wrong.returncode == 2 and "--ssl-keyfile-password: wrong password" in wrong.stderr
    server = squall(*args, "--ssl-keyfile-password", "s3cret", "--ssl-ca-certs", str(ca_file),
                    "--ssl-cert-reqs", "required", "--ssl-ciphers", "ECDHE+AESGCM")  # fmt: skip
    server.wait_ready(1)

    def handshake(with_certificate: bool) -> int:
        context = ssl.create_default_context(cafile=str(ca_file))
        context.maximum_version = ssl.TLSVersion.TLSv1_2  # so that the cipher list applies
        if with_certificate:
            client_cert.configure_cert(context)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw_sock:
            with context.wrap_socket(raw_sock, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /pid HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                cipher = tls.cipher()
                assert cipher is not None and "GCM" in cipher[0] and "ECDHE" in cipher[0]
                return _read_response(tls, bytearray()).status

    assert handshake(with_certificate=True) == 200
    with pytest.raises((ssl.SSLError, ConnectionResetError, EOFError)):
        handshake(with_certificate=False)
