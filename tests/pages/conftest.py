"""A real headless browser (Debian's chromium through its chromedriver) for the pages, and the
batch queue's worker for the batch file pages."""

import shutil
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from myproject.servers import stop
from tests.processes import start_worker

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def batch_worker(mongo_server, purged_queues):
    """A real `celery worker` on the batch queue (the Procfile's batcher): a batch file's
    chunks, uploaded through the pages."""
    proc = start_worker("batch", {})
    yield proc
    stop(proc)


@pytest.fixture(scope="session")
def browser():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("the page tests need Debian's chromium and chromium-driver (make test installs them)")
    profile = tempfile.mkdtemp(prefix="chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # No network here but loopback: these flags stop chromium's own calls home.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # The browser's console, read by tests (a blocked script is reported there).
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser, live_server):
    """The browser, logged out, and a function that opens a path of the live server."""
    browser.delete_all_cookies()

    def open_path(path: str):
        browser.get(live_server.url + path)
        return browser

    return open_path
