"""The status page in a real browser against ``omapifo serve`` on the lab (issue 16).

Debian's chromium, headless, driven by selenium through Debian's chromedriver (never
selenium's manager: the driver's path is given and SE_AVOID_STATS is set, so nothing is
downloaded and nothing phones home). Screenshots go to ``artifacts/`` at the top of the
repository (git-ignored), linked from docs/status-page.md. In CI (CI=true) these tests
fail rather than skip when the lab or the browser is missing.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from omapifo import Role, load_config
from omapifo.clients import servecli

from ..conftest import IN_CI
from .conftest import POLL, READER, auth, service_config, wait_for

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
POOL_INTERVAL = 5  # the schema's least: a few scans within the test


def need(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"browser tests never skip in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            need(f"{path} missing: apt-get install chromium chromium-driver (make apt)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        need("selenium missing: pip install -e '.[test]'")
    monkeypatch.setenv("SE_AVOID_STATS", "true")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox",  # root in a container: no sandbox
                "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,1800",
                # nothing but the service: no update checks, sync or safe-browsing calls
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps", "--no-first-run",
                "--disable-features=OptimizationHints,MediaRouter,Translate"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()  # ends chromedriver and every chromium process it started


@pytest.fixture
def served(healthy_lab, tmp_path: Path) -> Iterator[str]:
    path = service_config(healthy_lab.config_path, tmp_path, tmp_path / "omapifo.sqlite3")
    path.write_text(path.read_text().replace(
        "[service]\n", f"[service]\npool_interval = {POOL_INTERVAL}\n", 1))
    url, run, stop = servecli.start(load_config(path), "127.0.0.1:0", threads=8)
    thread = servecli.run_in_thread(run)
    try:
        yield url
    finally:
        stop()
        thread.join(10)


def text_of(driver: Any, css: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return str(driver.find_element("css selector", css).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""  # between two swaps of the fragment


def wait_until(check: Any, timeout: float, step: float = 0.05) -> Any:
    """conftest's wait_for, at a finer step: the test measures how soon the page follows."""
    return wait_for(check, timeout, step=step)


def severe(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def shot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def test_the_page_follows_the_pair_without_a_reload(served, browser, healthy_lab) -> None:
    url, driver = served, browser
    driver.get(url + "/")
    assert driver.current_url.endswith("/login")
    driver.find_element("id", "token").send_keys(READER)
    driver.find_element("css selector", "button[type=submit]").click()
    # the form's POST answers with a redirect: wait for the browser to follow it (a busy
    # 2-core machine took longer than the click's return, seen once)
    assert wait_until(lambda: driver.current_url == url + "/", 10), driver.current_url
    peer = f'[data-pair="{PAIR}"] [data-peer="%s"] [data-field="local_state"]'
    both_normal = lambda: all(  # noqa: E731
        text_of(driver, peer % r) == "normal" for r in ("primary", "secondary"))
    assert wait_until(both_normal, 30), driver.page_source[:3000]
    assert "ok" in text_of(driver, f'[data-pair="{PAIR}"] h2')
    # what the first page weighs, everything it loaded (the issue: under 200 KB)
    weight = driver.execute_script(
        "return performance.getEntriesByType('navigation').concat("
        "performance.getEntriesByType('resource')).reduce((n, e) => n + e.transferSize, 0)")
    print(f"index: {weight} bytes transferred")
    assert 0 < weight < 200 * 1024
    shot(driver, "status-index.png")

    # the pair's page: states in its HTML, then the charts with a point per scan
    api = requests.Session()
    api.headers.update(auth(READER))
    history = f"{url}/api/v1/pairs/{PAIR}/pools/history"
    assert wait_until(lambda: len({p["at"] for p in api.get(history).json()["points"]}) >= 2,
                      3 * POOL_INTERVAL + 10, step=0.5), "fewer than two scans recorded"
    driver.get(f"{url}/pairs/{PAIR}")
    assert wait_until(lambda: driver.find_elements("css selector", "svg.chart .point"), 10)
    scans = {p["at"] for p in api.get(history).json()["points"]}
    pools = driver.find_elements("css selector", "section.pool")
    assert pools
    for pool in pools:
        charted = {m.get_attribute("data-at") for m in
                   pool.find_elements("css selector", "svg.chart .point")}
        # every mark is a recorded scan, and every scan the fragment knew of is charted
        assert charted <= scans and len(charted) == int(pool.get_attribute("data-scans")) >= 2
    weight = driver.execute_script(
        "return performance.getEntriesByType('navigation').concat("
        "performance.getEntriesByType('resource')).reduce((n, e) => n + e.transferSize, 0)")
    print(f"pair page with its charts: {weight} bytes transferred")
    assert 0 < weight < 200 * 1024
    shot(driver, "status-pair-normal.png")

    # the change, seen without a reload: the page's document stays the same object
    marker = driver.execute_script("return window.__sameDocument = Math.random()")
    healthy_lab.stop(Role.PRIMARY)
    stopped = time.monotonic()
    # a condition with a generous deadline (a loaded 2-core machine); the time it took is
    # reported: one poll interval plus the page's refresh, when the machine is idle
    gone = wait_until(lambda: text_of(driver, peer % "primary") == "does not answer", 30)
    seen = time.monotonic() - stopped
    assert gone, "the stop was not shown within 30 s"
    print(f"primary's stop shown {seen:.2f} s after it (poll interval {POLL:g} s)")
    # dhcpd's own notice is dhcpd's timing; bound as generously as tests/api/test_service.py
    assert wait_until(lambda: text_of(driver, peer % "secondary") ==
                      "communications-interrupted", POLL + 10)
    assert driver.execute_script("return window.__sameDocument") == marker  # no reload
    text = driver.find_element("tag name", "body").text
    assert f'"confirm": "{PAIR}"' in text and f"omapifo partner-down {PAIR} secondary" in text
    assert "critical" in text_of(driver, f'[data-pair="{PAIR}"] h2') or \
        "warning" in text_of(driver, f'[data-pair="{PAIR}"] h2')
    shot(driver, "status-pair-primary-stopped.png")

    # a phone: fluid, no sideways scrolling
    driver.set_window_size(390, 844)
    driver.get(f"{url}/")
    assert wait_until(lambda: text_of(driver, peer % "primary") == "does not answer", 5)
    assert driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(driver, "status-index-phone.png")
    assert severe(driver) == []
