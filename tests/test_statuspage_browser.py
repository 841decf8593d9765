"""The status page of a running `enictl watch --listen`, in a real browser: headless
Chromium through its WebDriver (Debian's `chromium` and `chromium-driver`), on
127.0.0.1 only, with a fresh profile and every background network feature off.

A screenshot of each page it checks is kept as a test artifact: in the folder named by
ENICTL_TEST_ARTIFACTS when set, else in the test's tmp_path. Where Chromium or its
driver is missing the test skips, except in CI (`CI=true`), where it fails: `.ci/run`
installs them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from tests.watchprocess import Watch

DATA = Path(__file__).resolve().parent / "data" / "failover"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1400",
)


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is needed in CI (.ci/run installs chromium and chromium-driver)")
    pytest.skip(f"{what} is not available")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium under WebDriver, with an empty profile of its own."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        _missing("headless Chromium (chromium, chromedriver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    named = os.environ.get("ENICTL_TEST_ARTIFACTS")
    folder = Path(named) if named else tmp_path / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The failover cloud and manifests (eni-svc on web-1, standbys standby-1 and
    standby-2); NIC jobs take 0.5 s, so a failover lasts a second."""
    shutil.copytree(DATA / "manifests", tmp_path / "manifests")
    state = str(tmp_path / "state")
    assert main(["--state-dir", state, "sim", "init", str(DATA / "inventory.yaml")]) == 0
    assert main(["--state-dir", state, "sim", "faults", "--job-ms", "500"]) == 0
    return tmp_path


def _cell(browser: Any, row: str, column: int) -> str:
    from selenium.webdriver.common.by import By

    found = browser.find_element(By.CSS_SELECTOR, f"#{row} td:nth-child({column})")
    return str(found.text)


def _text(browser: Any, ident: str) -> str:
    return str(browser.find_element("id", ident).text)


def test_the_page_shows_a_failover_and_the_eni_on_its_new_server(
    workdir: Path, watches: list[Watch], browser: Any, artifacts: Path
) -> None:
    """Chromium loads / before, during and after web-1 fails: before, eni-svc is on
    web-1 with both standbys ready; during, the page says the apply's progress and that
    a failover is pending; after, it shows eni-svc in place on standby-1, web-1 not
    ready (SHUTOFF), the move and its seconds.
    No script error or blocked resource is logged; a screenshot of each is kept."""
    w = Watch(workdir, "--listen", "127.0.0.1:0", "--interval", "3600", "--health-interval", "0.2")
    watches.append(w)
    url = w.wait_for(lambda e: e["event"] == "watch-started", "watch-started")["listen"]
    w.reconciled("the start reconcile", outcome="in-sync")
    browser.get(f"{url}/")
    assert _cell(browser, "interface-eni-svc", 2) == "web-1"
    assert _cell(browser, "failover-eni-svc", 6) == "standby-1 ready; standby-2 ready"
    browser.save_screenshot(str(artifacts / "status-before-failover.png"))

    assert main(["--state-dir", str(workdir / "state"), "sim", "console", "set-status",
                 "web-1", "SHUTOFF"]) == 0  # fmt: skip
    w.wait_for(lambda e: e["event"] == "step-done" and e["action"] == "detach", "the detach")
    browser.get(f"{url}/")
    assert "steps done; last: detach eni-svc web-1: done" in _text(browser, "applying")
    assert _cell(browser, "interface-eni-svc", 8) == "failover pending: web-1 SHUTOFF"
    browser.save_screenshot(str(artifacts / "status-during-failover.png"))

    moved = w.wait_for(lambda e: e["event"] == "failover", "the failover")
    w.reconciled("the failover reconcile", trigger="health", outcome="applied")
    browser.get(f"{url}/")
    assert browser.title == "enictl watch: ready"
    assert _text(browser, "readiness") == "ready: leader; last reconcile applied"
    assert _cell(browser, "interface-eni-svc", 2) == "standby-1"
    assert _cell(browser, "interface-eni-svc", 3) == "web-1 (failover: standby-1)"
    assert _cell(browser, "interface-eni-svc", 8) == "in place"  # a failover is not drift
    assert _cell(browser, "failover-eni-svc", 2) == "standby-1"
    assert _cell(browser, "failover-eni-svc", 4) == "web-1 SHUTOFF"
    assert "web-1 not ready (SHUTOFF)" in _cell(browser, "failover-eni-svc", 6)
    assert _cell(browser, "server-standby-1", 6).startswith("2 / 3")
    latest = f"eni-svc web-1 -> standby-1 in {moved['seconds']:.2f} s (web-1 SHUTOFF)"
    assert latest in _text(browser, "failover")
    shot = artifacts / "status-after-failover.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    problems = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert problems == []
    assert w.stop() == 0
