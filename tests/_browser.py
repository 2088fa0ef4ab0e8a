"""A headless Chromium driven by Selenium for the explorer tests; skips with a plain reason where none exists."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,900"]


def find_browser() -> tuple[str, str] | None:
    chrome = next((p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))), None)
    driver = shutil.which("chromedriver")
    return (chrome, driver) if chrome and driver else None


def start_browser() -> Any:
    """A fresh headless Chromium with browser logs on, or pytest.skip with the reason."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("the selenium package is not installed (pip install selenium)")
    found = find_browser()
    if found is None:
        pytest.skip("no Chromium browser and chromedriver on PATH (Debian: apt-get install chromium chromium-driver)")
    chrome, driver = found
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    profile = tempfile.mkdtemp(prefix="ag-chromium-")
    for f in FLAGS + [f"--user-data-dir={profile}"]:
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        browser = webdriver.Chrome(service=Service(driver), options=opts)
    except Exception as e:  # a browser that cannot start here (no display libraries, ...)
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"Chromium could not start: {str(e).splitlines()[0]}")
    browser._ag_profile = profile
    return browser


def stop_browser(browser: Any) -> None:
    browser.quit()
    shutil.rmtree(browser._ag_profile, ignore_errors=True)


def console_errors(browser: Any) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def open_page(browser: Any, path: Path, timeout_s: float = 30.0) -> None:
    """Open a saved page and wait until its script has drawn it (``body[data-ready]``)."""
    browser.get(Path(path).resolve().as_uri())  # returns after the load event; the page draws before it
    deadline = time.monotonic() + timeout_s
    while not browser.execute_script("return document.body && document.body.dataset.ready === '1'"):
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never finished loading; console: {console_errors(browser)}")
        time.sleep(0.05)
