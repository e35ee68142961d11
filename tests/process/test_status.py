"""The master's health endpoints, status data and new metrics, over real processes."""

from __future__ import annotations

import json
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.process.apps.harness import (
    SquallFactory,
    get,
    scrape,
    series,
    squall,
    value,
    wait_until,
)

__all__ = ["squall"]

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and Linux signals")


def test_livez_and_readyz_follow_the_master_and_its_workers(squall: SquallFactory) -> None:
    server = squall("--workers", "2", "--metrics-bind", "127.0.0.1:0", "--shutdown-delay", "2",
                    "--graceful-timeout", "5")  # fmt: skip
    monitor = server.metrics_port()
    server.wait_ready(2)
    assert get(monitor, "/livez").status == 200
    ready = get(monitor, "/readyz")
    assert (ready.status, ready.text) == (200, "ready: 2 worker(s)\n")
    server.send(signal.SIGTERM)
    # During --shutdown-delay the workers still serve, but readiness fails at once.
    wait_until(lambda: get(monitor, "/readyz").status == 503, 2, "/readyz 503")
    assert get(monitor, "/livez").status == 200
    assert get(server.port, "/pid").status == 200
    assert server.wait_exit(10) == 0


def test_metrics_count_status_classes_and_ages(squall: SquallFactory) -> None:
    server = squall("--workers", "1", "--metrics-bind", "127.0.0.1:0")
    monitor = server.metrics_port()
    (pid,) = server.wait_ready(1)
    for path in ("/pid", "/pid", "/nope"):
        get(server.port, path)

    def counted() -> list[object] | None:
        samples = scrape(monitor)
        if value(samples, "squall_responses_total", status="2xx") < 2:
            return None
        return samples  # type: ignore[return-value]

    samples = wait_until(counted, 5, "the responses in the metrics")
    assert isinstance(samples, list)
    assert value(samples, "squall_responses_total", status="4xx") == 1
    assert value(samples, "squall_responses_total", status="5xx") == 0
    labels = {"worker": "0", "generation": "0", "pid": str(pid)}
    assert 0 <= value(samples, "squall_worker_heartbeat_age_seconds", **labels) < 3
    assert 0 <= value(samples, "squall_worker_last_request_age_seconds", **labels) < 5


def test_status_json_lists_workers_and_events(squall: SquallFactory) -> None:
    server = squall("--workers", "2", "--metrics-bind", "127.0.0.1:0")
    monitor = server.metrics_port()
    pids = server.wait_ready(2)
    for _ in range(10):
        get(server.port, "/pid")

    def loaded() -> dict[str, object] | None:
        data = json.loads(get(monitor, "/status.json").body)
        return data if data["totals"]["requests"] >= 10 else None

    data = wait_until(loaded, 5, "the requests in /status.json")
    assert isinstance(data, dict)
    workers = data["workers"]
    assert sorted(w["pid"] for w in workers) == sorted(pids)
    for worker in workers:
        assert worker["state"] == "ready" and worker["heartbeat_age"] < 3
        assert {"uptime", "rate", "inflight", "lag", "restarts", "last_request_age"} <= set(worker)
    assert any("ready (slot 0, generation 0)" in e["message"] for e in data["events"])
    assert "squall" in data["description"] and "tests.process.apps.basic:app" in data["description"]


def test_the_status_page_is_served_with_a_strict_content_security_policy(
    squall: SquallFactory,
) -> None:
    server = squall("--metrics-bind", "127.0.0.1:0")
    monitor = server.metrics_port()
    page = get(monitor, "/")
    assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert b"<script>" not in page.body and b"style=" not in page.body  # no inline code
    assert get(monitor, "/status.js").headers["content-type"].startswith("text/javascript")
    assert get(monitor, "/status.css").headers["content-type"].startswith("text/css")


def test_the_watchdog_names_the_request_that_blocked_the_loop(squall: SquallFactory) -> None:
    server = squall("--workers", "1", "--worker-timeout", "1")
    server.wait_ready(1)
    with ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(_get_or_error, server.port, "/block?s=6")
        line = server.wait_log(r"WORKER TIMEOUT: [^\n]*", 10).group(0)
        blocked.result(10)
    assert "request GET /block?s=6 running for" in line, line
    assert "(1 request in flight)" in line
    server.wait_ready(1)


def _get_or_error(port: int, path: str) -> object:
    try:
        return get(port, path, timeout=10)
    except (OSError, EOFError) as exc:
        return exc


def test_recycle_and_restart_show_their_cause(squall: SquallFactory) -> None:
    server = squall("--workers", "1", "--metrics-bind", "127.0.0.1:0", "--max-requests", "5",
                    "--max-requests-jitter", "0")  # fmt: skip
    monitor = server.metrics_port()
    server.wait_ready(1)
    for _ in range(6):
        get(server.port, "/pid")

    def recycled() -> dict[str, object] | None:
        data = json.loads(get(monitor, "/status.json").body)
        workers = data["workers"]
        done = workers and workers[0]["restarts"] == 1 and workers[0]["state"] == "ready"
        return data if done else None

    data = wait_until(recycled, 10, "the recycle on the status page")
    assert isinstance(data, dict)
    assert data["workers"][0]["restart_cause"] == "recycle"
    assert data["totals"]["restarts"]["recycle"] == 1
    assert series(scrape(monitor), "squall_worker_restarts_total")
