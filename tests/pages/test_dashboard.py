"""The home dashboard, in headless Chromium against a live server and a live worker: the
last day's counts and times, and the recent jobs refreshing themselves without a reload."""

from datetime import timedelta

import pytest
from django.test import Client
from selenium.webdriver.common.by import By

from .browser import DESKTOP, PHONE, log_in, screenshots, wait_for

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]


# The live part as one snapshot, read in one script: it is swapped every 2 s while a job
# is unfinished, and elements found one by one could belong to different versions of it.
STATE = """
const live = document.getElementById("dashboard-live");
const counts = {};
live.querySelectorAll("a[id^=stat-]").forEach((a) => {
  counts[a.id.slice(5)] = Number(a.querySelector(".value").textContent);
});
const timings = {};
live.querySelectorAll("[id^=timing-]").forEach((card) => {
  timings[card.id.slice(7)] = [card.querySelector(".value").innerText, card.querySelector(".name").innerText];
});
const rows = [...live.querySelectorAll("tbody tr")].map((tr) => ({
  id: tr.querySelector("td a").id.slice(4),
  status: tr.querySelector("span.status").textContent,
  text: tr.innerText,
}));
return {counts, timings, rows, live: live.dataset.live};
"""


def state(browser) -> dict:
    return browser.execute_script(STATE)


def status_of(browser, job_id: str) -> str | None:
    return next((row["status"] for row in state(browser)["rows"] if row["id"] == job_id), None)


@pytest.fixture
def finished_job(history, stored_job):
    """A stored job of `owner`, created `age_s` ago, started `queue_s` and finished
    `total_s` after that (None: not started, not finished)."""

    def make(owner, *, status="succeeded", age_s=60, queue_s=0.05, total_s=0.2):
        created = history.now() - timedelta(seconds=age_s)
        output = {"label": "malignant", "probabilities": {"benign": 0.02, "malignant": 0.98}}
        errors = {
            "failed": "ValueError: the model could not read the input",
            "canceled": "canceled by request",
        }
        return stored_job(
            owner=owner,
            status=status,
            attempts=1,
            created_at=created,
            started_at=created + timedelta(seconds=queue_s) if queue_s is not None else None,
            completed_at=created + timedelta(seconds=total_s) if total_s is not None else None,
            output=output if status == "succeeded" else None,
            error=errors.get(status),
        )

    return make


def test_the_dashboard_counts_the_last_day_by_status(history, make_user, finished_job, page):
    ada = make_user("ada")
    for i, total_s in enumerate([0.12, 0.2, 0.31, 0.45, 1.8]):
        finished_job(ada, age_s=600 + i * 60, queue_s=0.04 + i / 100, total_s=total_s)
    finished_job(ada, status="failed", age_s=300, total_s=0.09)
    finished_job(ada, status="canceled", age_s=200, total_s=5.0)
    finished_job(ada, status="canceled", age_s=100, queue_s=None, total_s=2.5)
    running = finished_job(ada, status="running", age_s=3, queue_s=1, total_s=None)
    queued = finished_job(ada, status="queued", age_s=1, queue_s=None, total_s=None)
    # Not counted: someone else's, and Ada's of two days ago.
    finished_job(make_user("bob"), status="failed", age_s=50)
    finished_job(ada, age_s=2 * 86400, total_s=30)
    finished_job(ada, status="failed", age_s=2 * 86400 + 60)

    browser = log_in(page, "ada")
    assert browser.current_url.endswith("/home/")
    assert "Welcome, ada" in browser.find_element(By.TAG_NAME, "h1").text
    assert browser.find_element(By.LINK_TEXT, "New prediction").get_attribute("href").endswith("/predict/")
    shown = state(browser)
    assert shown["counts"] == {
        "queued": 1,
        "running": 1,
        "succeeded": 5,
        "failed": 1,
        "canceled": 2,
        "total": 10,
    }
    # Nearest rank over the 8 finished: 0.09 0.12 0.2 0.31 0.45 1.8 2.5 5.0 -> the 4th and the 8th.
    # Queue waits of the 8 started: 0.04 0.05 0.05 0.05 0.06 0.07 0.08 1 -> the 4th.
    assert shown["timings"] == {
        "p50": ["310 ms", "median total time"],
        "p95": ["5.0 s", "95th percentile total time"],
        "queue-p50": ["50 ms", "median wait in the queue"],
    }
    # The 10 latest, newest first (the one of two days ago is the 11th).
    assert [row["status"] for row in shown["rows"]] == [
        "queued",
        "running",
        "canceled",
        "canceled",
        "failed",
        *["succeeded"] * 5,
    ]
    assert [row["id"] for row in shown["rows"][:2]] == [queued.id, running.id]
    assert "breast_cancer v1" in shown["rows"][5]["text"]
    assert "malignant" in shown["rows"][5]["text"]
    assert shown["live"] == "yes"

    # Each card's number and name are one link, to the history of that status in the same 24 hours.
    failed = browser.find_element(By.ID, "stat-failed")
    assert failed.text.split() == ["1", "failed"]
    assert failed.get_attribute("href").endswith("/history/?status=failed&since=24h")
    assert browser.find_element(By.ID, "stat-total").get_attribute("href").endswith("/history/?since=24h")
    headings = [h.tag_name for h in browser.find_elements(By.CSS_SELECTOR, "main h1, main h2, main h3")]
    assert headings == ["h1", "h2", "h3", "h3", "h2"]
    screenshots(browser, "home")

    # At phone width the page does not scroll sideways, and the table reads as cards.
    browser.set_window_size(*PHONE)
    try:
        wait_for(browser, lambda b: b.execute_script("return window.innerWidth") <= PHONE[0])
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        assert (
            browser.execute_script(
                "return getComputedStyle(document.querySelector('#dashboard-live thead')).display"
            )
            == "none"
        )
    finally:
        browser.set_window_size(*DESKTOP)

    # (found again and clicked at once: the live part may have been swapped meanwhile)
    wait_for(browser, lambda b: b.find_element(By.ID, "stat-failed").click() or True)
    wait_for(browser, lambda b: b.current_url.endswith("/history/?status=failed&since=24h"))
    # The one the card counted, not the failed job of two days ago.
    history_rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(history_rows) == 1
    assert "failed" in history_rows[0].text
    assert browser.find_element(By.CSS_SELECTOR, "#id_since option:checked").text == "the last 24 hours"


def test_a_job_submitted_while_the_dashboard_is_open_shows_up_and_finishes_there(
    history, live_worker, model_version, valid_input, make_user, finished_job, page
):
    from api.services import prediction_submit

    ada = make_user("ada")
    finished_job(ada, age_s=120)
    browser = log_in(page, "ada")
    shown = state(browser)
    assert shown["live"] == "no"  # nothing unfinished: only the slow check for new jobs
    assert (shown["counts"]["queued"], shown["counts"]["succeeded"]) == (0, 1)
    browser.execute_script("window.dashboardMarker = 'same document'")

    seen_queued = []

    def watch_it_queued(job_id):
        # Written, not yet queued for a worker: the open page finds it by itself.
        wait_for(browser, lambda b: status_of(b, job_id) == "queued", timeout=30)
        seen_queued.append(state(browser)["counts"]["queued"])

    job, created = prediction_submit(
        user=ada, model_name="breast_cancer", input=valid_input, on_created=watch_it_queued
    )
    assert created
    assert seen_queued == [1]
    wait_for(browser, lambda b: status_of(b, job.id) == "succeeded")
    # Finished: the counts follow, and the fast polling stops.
    wait_for(browser, lambda b: state(b)["live"] == "no")
    shown = state(browser)
    assert (shown["counts"]["queued"], shown["counts"]["succeeded"]) == (0, 2)
    assert shown["rows"][0]["id"] == job.id
    assert "malignant" in shown["rows"][0]["text"]
    assert browser.execute_script("return window.dashboardMarker") == "same document"
    assert browser.current_url.endswith("/home/")


def test_a_poll_after_the_session_ended_goes_to_the_login_page(history, make_user, stored_job, page):
    ada = make_user("ada")
    stored_job(owner=ada)  # queued, never published: the dashboard keeps polling
    browser = log_in(page, "ada")
    assert state(browser)["live"] == "yes"
    browser.delete_cookie("sessionid")
    wait_for(browser, lambda b: "/accounts/login/" in b.current_url, timeout=15)
    assert "next=/home/" in browser.current_url.replace("%2F", "/")


def test_the_fragment_requires_a_login_and_is_only_the_live_part(history, make_user, finished_job, page):
    anonymous = Client()
    answer = anonymous.get("/home/?part=live")
    assert answer.status_code == 302
    assert answer["Location"] == "/accounts/login/?next=/home/"
    answer = anonymous.get("/home/?part=live", headers={"HX-Request": "true"})
    assert answer.status_code == 401
    assert answer["HX-Redirect"] == "/accounts/login/?next=/home/"
    assert b"dashboard-live" not in answer.content
    browser = page("/home/?part=live")
    assert "/accounts/login/" in browser.current_url

    ada = make_user("ada")
    job = finished_job(ada)
    client = Client()
    client.force_login(ada)
    fragment = client.get("/home/?part=live").content.decode()
    assert fragment.lstrip().startswith('<div id="dashboard-live"')
    assert "<h1" not in fragment
    assert 'hx-trigger="every 10s"' in fragment
    assert f"newest={job.id}" in fragment
    # The slow check: nothing new is a 204 (htmx swaps nothing); a newer job, the fragment.
    assert client.get(f"/home/?part=live&newest={job.id}").status_code == 204
    assert client.get("/home/?part=live&newest=someone-else").status_code == 200
    finished_job(ada, status="running", age_s=1, total_s=None)
    answer = client.get(f"/home/?part=live&newest={job.id}")
    assert answer.status_code == 200
    assert 'hx-trigger="every 2s"' in answer.content.decode()
