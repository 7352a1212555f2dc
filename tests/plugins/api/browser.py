"""A real browser for the page tests: Debian's ``chromium``, headless, driven by selenium
through Debian's ``chromium-driver`` (``/usr/bin/chromedriver``): no browser or driver is
downloaded. A missing one fails the test with the command that installs it (``.ci/run`` does).

Selenium is synchronous: :class:`Browser` runs each call in a worker thread, so the service
under test keeps running in the test's event loop. Every page visited can be saved as a PNG
(:meth:`Browser.screenshot`), in ``HOOKWIRE_TEST_SCREENSHOTS`` when that names a directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--disable-extensions", "--window-size=1440,1000",
         "--disable-dev-shm-usage")


def chromium() -> str:
    binary = shutil.which("chromium")
    if binary is None or not Path(CHROMEDRIVER).exists():
        pytest.fail("the browser tests need Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver; .ci/run installs them)")
    return binary


class Browser:
    def __init__(self, driver: Any, shots: Path) -> None:
        self.driver = driver
        self.shots = shots

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args)

    async def get(self, url: str) -> None:
        await self.run(self.driver.get, url)

    async def js(self, script: str, *args: Any) -> Any:
        return await self.run(self.driver.execute_script, script, *args)

    async def wait(self, condition: Callable[[Any], Any], timeout: float = 15.0, what: str = "") -> Any:
        """Until ``condition(driver)`` is truthy (selenium's WebDriverWait, polling the page)."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        def waiting() -> Any:
            try:
                return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(condition)
            except TimeoutException:
                raise AssertionError(f"the page did not show {what or condition} within "
                                     f"{timeout:g} s") from None

        return await self.run(waiting)

    async def css(self, selector: str, timeout: float = 15.0) -> Any:
        """The first element matching ``selector`` once it is displayed."""
        from selenium.webdriver.common.by import By

        def shown(driver: Any) -> Any:
            for element in driver.find_elements(By.CSS_SELECTOR, selector):
                if element.is_displayed():
                    return element
            return None

        return await self.wait(shown, timeout, selector)

    async def all(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return await self.run(self.driver.find_elements, By.CSS_SELECTOR, selector)

    async def click(self, selector: str, timeout: float = 15.0) -> None:
        element = await self.css(selector, timeout)
        await self.run(element.click)

    async def type(self, selector: str, text: str) -> None:
        element = await self.css(selector)
        await self.run(element.clear)
        await self.run(element.send_keys, text)

    async def select(self, selector: str, value: str) -> None:
        """Choose ``value`` (the option's value, or its text) in a ``<select>``."""
        from selenium.webdriver.support.ui import Select

        element = await self.css(selector)
        await self.run(Select(element).select_by_value, value)

    async def text(self, selector: str) -> str:
        element = await self.css(selector)
        return await self.run(lambda: element.text)

    async def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await self.run(self.driver.save_screenshot, str(path))
        extra = os.environ.get("HOOKWIRE_TEST_SCREENSHOTS")
        if extra and Path(extra).is_dir():
            shutil.copy(path, Path(extra) / path.name)
        return path


@asynccontextmanager
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    """A fresh headless chromium (its own profile in ``tmp_path``), quit on the way out."""
    binary = chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    shots = tmp_path / "screenshots"
    shots.mkdir(exist_ok=True)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = await anyio.to_thread.run_sync(lambda: webdriver.Chrome(service=service, options=options))
    try:
        yield Browser(driver, shots)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(driver.quit)
