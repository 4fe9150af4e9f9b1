"""What the page tests do with the browser: fill, submit, log in, wait, take screenshots."""

import os
from pathlib import Path

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.clients import PASSWORD

DESKTOP = (1280, 900)
PHONE = (390, 844)


def fill(browser, values: dict):
    for name, value in values.items():
        field = browser.find_element(By.NAME, name)
        field.clear()
        field.send_keys(str(value))


def wait_for(browser, condition, timeout: float = 30):
    """Wait until `condition(browser)` is truthy; chromedriver's mid-navigation errors retry."""
    return WebDriverWait(browser, timeout, ignored_exceptions=(WebDriverException,)).until(condition)


def mark_document(browser):
    browser.execute_script("document.documentElement.dataset.leaving = 'yes'")


def wait_for_new_document(browser, timeout: float = 30):
    """After mark_document: wait until a document without the mark has loaded.

    Chromedriver can answer a command sent mid-navigation with an "unhandled inspector
    error" instead of a stale-element one, so those are retried until the timeout rather
    than taken as the answer.
    """
    wait_for(
        browser,
        lambda b: b.execute_script(
            "return document.readyState === 'complete' && !document.documentElement.dataset.leaving"
        ),
        timeout,
    )


def submit(browser, selector: str = "main form[method=post] button[type=submit]"):
    """Press the page's own form button (not the nav's log-out) and wait for the next page."""
    mark_document(browser)
    browser.find_element(By.CSS_SELECTOR, selector).click()
    wait_for_new_document(browser)


def log_in(page, username: str):
    browser = page("/accounts/login/")
    fill(browser, {"username": username, "password": PASSWORD})
    submit(browser)
    return browser


def screenshot_dir() -> Path:
    """`make screenshots` writes them into docs/screenshots (SCREENSHOT_DIR); a plain test
    run into var/.../screenshots, so that `make test` never changes committed files."""
    return Path(os.environ.get("SCREENSHOT_DIR") or Path(os.environ["VAR_DIR"]) / "screenshots")


def screenshots(browser, name: str) -> list[Path]:
    """The whole page as it is now, at desktop and at phone width: <name>-desktop.png and
    <name>-phone.png. The window is back at desktop size afterwards."""
    folder = screenshot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, (width, height) in (("desktop", DESKTOP), ("phone", PHONE)):
        browser.set_window_size(width, height)
        # The layout settles at the new width before the picture (two animation frames).
        browser.execute_async_script(
            "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));"
        )
        height_needed = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(width, min(max(height, height_needed + 140), 6000))
        path = folder / f"{name}-{kind}.png"
        browser.save_screenshot(str(path))
        written.append(path)
    browser.set_window_size(*DESKTOP)
    return written
