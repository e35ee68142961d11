"""``squall serve`` logging: JSON lines, ``--log-config``, the access line, request ids, and
true source locations in the compiled build; over real server processes."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.process.apps.harness import SquallFactory, connect, get, squall, wait_until
from tests.process.test_serve_options import info, raw

__all__ = ["squall"]

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and Linux signals")


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line parsed as one JSON object (any other line fails the test)."""
    records = []
    for line in text.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        records.append(record)
    return records


def test_json_logs_from_master_and_workers_alike(squall: SquallFactory) -> None:
    server = squall("--workers", "2", "--log-format", "json", wait_listening=False)
    port = int(server.wait_log(r'"message": "Listening on http://127\.0\.0\.1:(\d+)"').group(1))
    server.wait_log("Ready: 2 worker")
    raw(port, b"GET /pid HTTP/1.1\r\nHost: t\r\nUser-Agent: probe/1\r\nX-Request-Id: abc-1\r\n"
        b"Connection: close\r\n\r\n")  # fmt: skip
    server.wait_log('"request_id": "abc-1"')
    records = json_lines(server.log())
    pids = {record["pid"] for record in records}
    assert server.pid in pids and len(pids) >= 2  # the master and a worker
    for record in records:
        assert {"time", "level", "logger", "pid", "message"} <= record.keys(), record
        stamp = datetime.fromisoformat(record["time"])
        assert stamp.tzinfo is not None, record["time"]  # RFC 3339, with the offset
    (access,) = [r for r in records if r["logger"] == "squall.access"]
    assert access["method"] == "GET" and access["path"] == "/pid" and access["status"] == 200
    assert access["user_agent"] == "probe/1" and access["remote"] == "127.0.0.1"
    assert access["bytes"] > 0 and access["duration_ms"] >= 0 and access["level"] == "INFO"


def test_a_traceback_stays_inside_its_json_record(squall: SquallFactory, tmp_path: Path) -> None:
    control = tmp_path / "version"
    control.write_text("broken")
    server = squall("--log-format", "json", env={"SQUALL_TEST_CONTROL": str(control)},
                    wait_listening=False)  # fmt: skip
    assert server.wait_exit(10) == 3
    records = json_lines(server.log())
    assert any("broken on purpose" in r["message"] for r in records), records


@pytest.mark.parametrize("kind", ["json", "yaml", "ini"])
def test_log_config_file_configures_master_and_workers(
    squall: SquallFactory, tmp_path: Path, kind: str
) -> None:
    fmt = "CUSTOM %(levelname)s %(process)d %(name)s: %(message)s"
    if kind == "json":
        path = tmp_path / "logging.json"
        path.write_text(json.dumps({
            "version": 1,
            "formatters": {"plain": {"format": fmt}},
            "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "plain"}},
            "root": {"level": "INFO", "handlers": ["err"]},
        }))  # fmt: skip
    elif kind == "yaml":
        path = tmp_path / "logging.yaml"
        path.write_text(
            "version: 1\nformatters:\n  plain:\n    format: '" + fmt + "'\n"
            "handlers:\n  err:\n    class: logging.StreamHandler\n    formatter: plain\n"
            "root:\n  level: INFO\n  handlers: [err]\n"
        )
    else:
        path = tmp_path / "logging.ini"
        path.write_text(
            "[loggers]\nkeys=root\n[handlers]\nkeys=err\n[formatters]\nkeys=plain\n"
            "[logger_root]\nlevel=INFO\nhandlers=err\n"
            "[handler_err]\nclass=StreamHandler\nformatter=plain\nargs=(sys.stderr,)\n"
            "[formatter_plain]\nformat=" + fmt + "\n"
        )
    server = squall("--log-config", str(path), wait_listening=False)
    port = int(server.wait_log(r"Listening on http://127\.0\.0\.1:(\d+)").group(1))
    get(port, "/pid")
    server.wait_log(r"CUSTOM INFO \d+ squall\.access: ")
    lines = server.log().splitlines()
    assert all(line.startswith("CUSTOM ") for line in lines if line.strip()), lines


def test_access_log_format_template(squall: SquallFactory) -> None:
    template = "{method} {path} -> {status} ({bytes} B, {user_agent}) id={request_id}"
    server = squall("--access-log-format", template)
    server.wait_ready(1)
    raw(server.port, b"GET /version HTTP/1.1\r\nHost: t\r\nUser-Agent: ua/2\r\n"
        b"Connection: close\r\n\r\n")  # fmt: skip
    match = server.wait_log(r"GET /version -> 200 \(2 B, ua/2\) id=([0-9a-f]{16})")
    assert match.group(1)


def test_request_id_from_the_client_or_generated_reaches_the_handler(
    squall: SquallFactory,
) -> None:
    server = squall("--workers", "1")
    server.wait_ready(1)
    given = info(server.port, {"X-Request-Id": "req-42"})
    assert given["request_id"] == given["_response_request_id"] == "req-42"
    made = [info(server.port) for _ in range(2)]
    ids = {found["request_id"] for found in made}
    assert len(ids) == 2 and all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids), ids
    assert all(found["request_id"] == found["_response_request_id"] for found in made)
    # One that is too long or not printable is replaced.
    odd = info(server.port, {"X-Request-Id": "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{16}", odd["request_id"])


def test_protocol_log_lines_name_their_true_source_location(squall: SquallFactory) -> None:
    """In both builds: compiled code has no Python frames, squall puts the location back."""
    server = squall("--workers", "1")
    server.wait_ready(1)
    with connect(server.port) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        wait_until(lambda: sock.recv(4096) == b"" or True, 5, "the answer")
    line = server.wait_log(r"\[I [^\]]+\] Malformed HTTP message from 127\.0\.0\.1").group(0)
    assert re.search(r" refusals:\d+\]", line), line  # _http1/refusals.py logs it
