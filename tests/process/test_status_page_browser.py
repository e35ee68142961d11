"""The live status page in a real headless browser (Debian's chromium + chromedriver, driven by
selenium): it loads under its Content-Security-Policy without a single console error, and its
numbers move after requests, without a reload. A screenshot is saved as an artifact in
docs/deployment/screenshots/ (CI keeps it; git ignores it)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.process.apps.harness import ROOT, SquallFactory, get, squall

__all__ = ["squall"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOT = ROOT / "docs" / "deployment" / "screenshots" / "status-page.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and Linux signals"),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER), reason="needs chromium and chromedriver (apt-get)"
    ),
]


@pytest.fixture
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="squall-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,900",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_status_page_loads_under_its_csp_and_updates_live(
    squall: SquallFactory, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server = squall("--workers", "2", "--metrics-bind", "127.0.0.1:0")
    monitor = server.metrics_port()
    server.wait_ready(2)
    browser.get(f"http://127.0.0.1:{monitor}/")
    wait = WebDriverWait(browser, 15)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#workers tbody tr")) == 2)
    wait.until(lambda d: d.find_element(By.ID, "connection").get_attribute("class") == "live")
    browser.execute_script("window.squallTestMarker = 'still the same page';")
    before = int(browser.find_element(By.ID, "requests").text)
    for _ in range(25):
        assert get(server.port, "/pid").status == 200
    wait.until(lambda d: int(d.find_element(By.ID, "requests").text) >= before + 25)
    assert browser.execute_script("return window.squallTestMarker;") == "still the same page"
    rows = browser.find_elements(By.CSS_SELECTOR, "#workers tbody tr")
    assert sorted(int(row.get_attribute("data-pid")) for row in rows) == sorted(server.workers())
    assert sum(int(row.find_element(By.CSS_SELECTOR, "td.requests").text) for row in rows) >= 25
    events = browser.find_element(By.ID, "events").text
    assert "Ready: 2 worker(s) serving" in events
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    assert Path(SCREENSHOT).stat().st_size > 10_000
    problems = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert problems == [], problems  # a CSP violation, a failed fetch, a script error
