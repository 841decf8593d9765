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

DATA = Path(__file__).resolve().parent / "data" / "watch"
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
    shutil.copytree(DATA / "manifests", tmp_path / "manifests")
    state = str(tmp_path / "state")
    assert main(["--state-dir", state, "sim", "init", str(DATA / "inventory.yaml")]) == 0
    return tmp_path


def _cell(browser: Any, row: str, column: int) -> str:
    from selenium.webdriver.common.by import By

    found = browser.find_element(By.CSS_SELECTOR, f"#{row} td:nth-child({column})")
    return str(found.text)


def test_the_page_shows_the_eni_on_its_new_server(
    workdir: Path, watches: list[Watch], browser: Any, artifacts: Path
) -> None:
    """Chromium loads / before and after eni-a moves from web-1 to web-2: the rendered
    page shows it on web-2, both servers' NIC use, the leader and readiness; no script
    error or blocked resource is logged; screenshots are kept."""
    w = Watch(workdir, "--listen", "127.0.0.1:0", "--interval", "3600")
    watches.append(w)
    url = w.wait_for(lambda e: e["event"] == "watch-started", "watch-started")["listen"]
    w.reconciled("the start reconcile", outcome="in-sync")
    browser.get(f"{url}/")
    assert _cell(browser, "interface-eni-a", 2) == "web-1"
    assert _cell(browser, "server-web-1", 6).startswith("2 / 3")
    browser.save_screenshot(str(artifacts / "status-before-move.png"))

    path = workdir / "manifests" / "interfaces.yaml"
    path.write_text(path.read_text().replace("server: web-1}", "server: web-2}"))
    w.reconciled("the move", outcome="applied")
    browser.get(f"{url}/")
    assert browser.title == "enictl watch: ready"
    assert _cell(browser, "interface-eni-a", 2) == "web-2"
    assert _cell(browser, "interface-eni-a", 8) == "in place"
    assert _cell(browser, "server-web-2", 6).startswith("2 / 3")
    assert _cell(browser, "server-web-1", 6).startswith("1 / 3")
    text = browser.find_element("id", "readiness").text
    assert text == "ready: leader; last reconcile applied"
    shot = artifacts / "status-after-move.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    problems = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert problems == []
    assert w.stop() == 0
