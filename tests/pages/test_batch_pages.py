"""Batch files on the pages: a CSV file chosen on the predict page streams into GridFS and is
scored by a live `celery worker` on the batch queue; its page follows it live (htmx, no
reload) to its end, its results download as the API's CSV, and it is listed on the history
and home pages. A file refused as a whole says why on the predict page and leaves nothing
stored. Django's test client where it suffices; headless Chromium for the rest."""

import csv
import html
import io
import re
from contextlib import contextmanager
from types import SimpleNamespace
from urllib.parse import urlparse

import psutil
import pytest
from django.test import Client
from mongoengine.connection import get_db
from selenium.webdriver.common.by import By

from api.selectors import cursor_encode
from myproject.servers import wait_until
from tests.api.test_batches import table_csv
from tests.processes import held, process_tree

from .browser import log_in, screenshots, submit, wait_for

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]

PREDICT_BATCH = "/predict/batch/"
BATCH_PAGE = re.compile(r"^/batches/([0-9a-f-]{36})/$")


def named(data: bytes, name: str = "patients.csv") -> io.BytesIO:
    stream = io.BytesIO(data)
    stream.name = name
    return stream


def send_file(client: Client, data: bytes, *, name: str = "patients.csv", **fields):
    """The predict page's many-rows form with a file, its fields in the page's order: the
    model, the file, then the key column."""
    body = {"model": "breast_cancer", "file": named(data, name), **fields}
    return client.post(PREDICT_BATCH, body)


def batch_id_of(response) -> str:
    assert response.status_code == 302, response.content.decode()[:2000]
    found = BATCH_PAGE.match(response["Location"])
    assert found, response["Location"]
    return found.group(1)


def stored_files() -> int:
    return get_db()["batch_files.files"].count_documents({})


def nothing_stored(history) -> bool:
    return (
        history.BatchJob.objects.count() == 0
        and history.BatchChunk.objects.count() == 0
        and stored_files() == 0
        and get_db()["batch_files.chunks"].count_documents({}) == 0
        and get_db()["batch_uploads"].count_documents({}) == 0
    )


def batch_errors(response) -> list[str]:
    """The messages of the predict page's #batch-errors box."""
    text = response.content.decode()
    box = re.search(r'id="batch-errors".*?<ul class="errorlist">(.*?)</ul>', text, re.S)
    assert box, text[:3000]
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", box.group(1), re.S)]


def wait_ended(history, batch_id: str, timeout: float = 120):
    wait_until(
        lambda: history.batch_get(batch_id).status in history.FINISHED, timeout=timeout, what="the batch"
    )
    return history.batch_get(batch_id)


def batch_workers() -> list[psutil.Process]:
    """Every `celery worker` on the batch queue this session started, with its pool: this
    directory's fixture's, and another test module's own (tests/api/test_batches.py)."""
    found = []
    for child in psutil.Process().children():
        try:
            command = child.cmdline()
        except psutil.Error:
            continue
        if "--queues" in command and command[command.index("--queues") + 1 :][:1] == ["batch"]:
            found += process_tree(child.pid)
    return found


@contextmanager
def frozen(worker):
    """Every batch worker (`worker` among them) and its pool stopped: the chunks stay queued
    until the block ends."""
    workers = batch_workers()
    assert worker.pid in {process.pid for process in workers}
    with held(workers):
        yield


@pytest.fixture
def ada_client(make_user, model_version):
    """A browser's client (session login) of ada, with breast_cancer v1 serving."""
    client = Client()
    client.force_login(make_user("ada"))
    return client


@pytest.fixture
def table(breast_cancer_table):
    return breast_cancer_table[0]


# --------------------------------------------------------------- the test client


def test_a_file_becomes_a_batch_whose_pages_are_its_owners_only(
    history, batch_worker, ada_client, table, make_user, settings
):
    settings.BATCH_CHUNK_ROWS = 20
    batch_id = batch_id_of(send_file(ada_client, table_csv(table, rows=50), key_column="id"))
    batch = history.batch_get(batch_id)
    assert (batch.filename, batch.rows_total, batch.chunks_total, batch.key_column) == (
        "patients.csv",
        50,
        3,
        "id",
    )
    assert history.PredictionJob.objects.count() == 0  # a batch file, not a prediction job
    page = ada_client.get(f"/batches/{batch_id}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "patients.csv" in text
    assert 'id="batch-live"' in text
    wait_ended(history, batch_id)

    mallory = Client()
    mallory.force_login(make_user("mallory"))
    for path in (
        f"/batches/{batch_id}/",
        f"/batches/{batch_id}/?part=live",
        f"/batches/{batch_id}/results.csv",
    ):
        assert mallory.get(path).status_code == 404, path
    assert mallory.post(f"/batches/{batch_id}/cancel/").status_code == 404
    # Staff too: a batch is its owner's, as on the API.
    staff = Client()
    staff.force_login(make_user("root", is_staff=True))
    assert staff.get(f"/batches/{batch_id}/").status_code == 404
    # No such batch: the same 404.
    assert ada_client.get("/batches/00000000-0000-4000-8000-000000000000/").status_code == 404
    # Logged out: the login page.
    logged_out = Client().get(f"/batches/{batch_id}/")
    assert logged_out.status_code == 302
    assert "/accounts/login/" in logged_out["Location"]


def test_the_results_are_a_409_while_it_runs_then_the_apis_csv_streamed(
    history, batch_worker, ada_client, table, settings
):
    settings.BATCH_CHUNK_ROWS = 25
    data = table_csv(table, rows=100, bad={3: ("mean_radius", "abc")})
    with frozen(batch_worker):
        batch_id = batch_id_of(send_file(ada_client, data, name="ward 7.csv", key_column="id"))
        history.batch_started(batch_id)  # as the first chunk's claim marks it
        waiting = ada_client.get(f"/batches/{batch_id}/results.csv")
        assert waiting.status_code == 409
        assert "The batch is running" in waiting.content.decode()
        page = ada_client.get(f"/batches/{batch_id}/").content.decode()
        assert "Download results" not in page
        assert f'action="/batches/{batch_id}/cancel/"' in page
        assert 'hx-trigger="every 1s"' in page
    batch = wait_ended(history, batch_id)
    assert batch.status == "succeeded"

    answer = ada_client.get(f"/batches/{batch_id}/results.csv")
    assert answer.status_code == 200
    assert answer.streaming
    assert answer["Content-Type"] == "text/csv; charset=utf-8"
    assert answer["Content-Disposition"] == 'attachment; filename="ward_7-results.csv"'
    body = b"".join(answer.streaming_content)
    from predictor.batches import batch_results

    assert body == b"".join(batch_results(history.batch_get(batch_id)))  # the API's CSV
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["id", "label", "p_benign", "p_malignant", "error"]
    assert [row[0] for row in rows[1:]] == [f"patient-{index:05d}" for index in range(100)]
    assert rows[4][-1] == 'mean_radius: "abc" is not a number.'

    page = ada_client.get(f"/batches/{batch_id}/").content.decode()
    assert f'href="/batches/{batch_id}/results.csv"' in page
    assert "hx-trigger" not in page  # ended: the page stops asking
    assert 'data-count="99"' in page  # rows done
    assert "<strong>Canceled" not in page


def test_a_failed_batch_shows_its_error_and_its_results(history, batch_worker, ada_client, table, settings):
    settings.BATCH_CHUNK_ROWS = 10
    data = table_csv(table, rows=60, bad={index: ("mean_area", "n/a") for index in range(8)})
    batch_id = batch_id_of(send_file(ada_client, data))
    assert wait_ended(history, batch_id).status == "failed"
    page = ada_client.get(f"/batches/{batch_id}/").content.decode()
    error = re.search(r'<p class="error" id="batch-error">(.*?)</p>', page, re.S).group(1)
    assert "<strong>Failed:</strong>" in error
    assert "8 of the first 10 rows (80%)" in html.unescape(error)
    assert 'data-status="failed"' in page
    assert f'href="/batches/{batch_id}/results.csv"' in page
    lines = list(
        csv.reader(io.StringIO(b"".join(ada_client.get(f"/batches/{batch_id}/results.csv")).decode()))
    )
    assert len(lines) == 61  # every row has its line


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("not utf-8", "UTF-8"),
        ("empty", "empty"),
        ("a feature missing", "mean_radius"),
        ("a ragged row", "13"),
        ("over the size limit", "over the limit"),
        ("an unknown key column", "customer"),
    ],
)
def test_a_file_refused_as_a_whole_says_why_on_the_predict_page_and_nothing_is_kept(
    history, ada_client, table, settings, case, words
):
    fields = {}
    if case == "not utf-8":
        data = "id,mean_radius\nBiscoé,1\n".encode("latin-1")
    elif case == "empty":
        data = b""
    elif case == "a feature missing":
        data = table_csv(table.drop(columns=["mean_radius"]), rows=5)
    elif case == "a ragged row":
        lines = table_csv(table, rows=20, newline="\n").decode().splitlines()
        lines[12] += ",surplus"
        data = ("\n".join(lines) + "\n").encode()
    elif case == "over the size limit":
        data = table_csv(table, rows=50)
        settings.BATCH_FILE_MAX_BYTES = len(data) - 1
    else:
        data, fields = table_csv(table, rows=5), {"key_column": "customer"}
    response = send_file(ada_client, data, **fields)
    assert response.status_code == 400
    errors = batch_errors(response)
    assert any(words in error for error in errors), errors
    text = response.content.decode()
    assert "Nothing was queued and the file was not kept." in text
    assert re.search(r'<input type="file" id="id_file"[^>]*aria-invalid="true"', text)
    assert nothing_stored(history)


def test_a_post_without_its_csrf_token_is_refused_and_stores_nothing(
    history, make_user, model_version, table
):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("ada"))
    form = client.get("/predict/?model=breast_cancer").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = table_csv(table, rows=30)
    refused = client.post(PREDICT_BATCH, {"model": "breast_cancer", "file": named(data)})
    assert refused.status_code == 403
    assert nothing_stored(history)
    taken = client.post(
        PREDICT_BATCH, {"csrfmiddlewaretoken": token, "model": "breast_cancer", "file": named(data)}
    )
    batch_id_of(taken)
    assert history.BatchJob.objects.count() == 1


def test_the_page_path_takes_a_body_as_large_as_a_batch_file(history, ada_client, table, settings):
    # The site's limit for other bodies, made small: a file above it still goes through.
    settings.REQUEST_MAX_BYTES = 8 * 1024
    data = table_csv(table, rows=400)  # some 94 KB
    assert len(data) > 10 * settings.REQUEST_MAX_BYTES
    batch_id_of(send_file(ada_client, data))
    # Another page path keeps the site's limit.
    too_large = ada_client.post("/predict/", {"model": "breast_cancer", "file": named(data)})
    assert too_large.status_code == 413
    # Past BATCH_FILE_MAX_BYTES (and its form's overhead), the middleware refuses it unread.
    settings.BATCH_FILE_MAX_BYTES = 1024
    refused = send_file(ada_client, data)
    assert refused.status_code == 413
    assert "at most" in refused.content.decode()
    assert history.BatchJob.objects.count() == 1


def test_a_file_counts_against_the_submit_limit_and_a_throttled_one_is_not_stored(
    history, ada_client, table, monkeypatch
):
    from api.throttles import SubmitRateThrottle

    monkeypatch.setattr(SubmitRateThrottle, "THROTTLE_RATES", {"submit": "1/minute"})
    batch_id_of(send_file(ada_client, table_csv(table, rows=10)))
    files = stored_files()
    refused = send_file(ada_client, table_csv(table, rows=10))
    assert refused.status_code == 429
    assert "Retry-After" in refused
    assert history.BatchJob.objects.count() == 1
    assert stored_files() == files
    assert get_db()["batch_uploads"].count_documents({}) == 0


def test_a_batch_is_canceled_from_its_page(history, batch_worker, ada_client, table, settings):
    settings.BATCH_CHUNK_ROWS = 10
    with frozen(batch_worker):
        first = batch_id_of(send_file(ada_client, table_csv(table, rows=40)))
        answer = ada_client.post(f"/batches/{first}/cancel/")
        assert (answer.status_code, answer["Location"]) == (302, f"/batches/{first}/")
        assert history.batch_get(first).status == "canceled"
        # From the live part (htmx): the live part, now ended.
        second = batch_id_of(send_file(ada_client, table_csv(table, rows=40)))
        live = ada_client.post(f"/batches/{second}/cancel/", headers={"HX-Request": "true"})
        text = live.content.decode()
        assert text.lstrip().startswith('<section id="batch-live"')
        assert 'data-status="canceled"' in text
        assert "hx-trigger" not in text
        assert "Download results (CSV)" in text
        assert ada_client.get(f"/batches/{second}/cancel/").status_code == 405
    for batch_id in (first, second):
        assert wait_ended(history, batch_id).status == "canceled"
    lines = list(csv.reader(io.StringIO(b"".join(ada_client.get(f"/batches/{first}/results.csv")).decode())))
    assert len(lines) == 41
    assert all(line[-1] == "not scored: canceled" for line in lines[1:])


def test_the_history_and_home_pages_list_the_users_own_batches(
    history, batch_worker, ada_client, table, make_user, settings
):
    home = ada_client.get("/home/").content.decode()
    assert "recent-batches" not in home  # none: nothing shown
    assert "No batch files yet" in ada_client.get("/history/").content.decode()

    ids = [
        batch_id_of(send_file(ada_client, table_csv(table, rows=rows), name=f"f{rows}.csv"))
        for rows in (7, 8, 9)
    ]
    for batch_id in ids:
        wait_ended(history, batch_id)
    listed = ada_client.get("/history/").content.decode()
    section = listed[listed.index('id="batches"') :]
    assert [section.index(f'href="/batches/{batch_id}/"') for batch_id in ids[::-1]] == sorted(
        section.index(f'href="/batches/{batch_id}/"') for batch_id in ids
    )  # the newest first
    assert "f9.csv" in section
    assert 'data-done="9" data-total="9"' in section
    # An older page of the predictions does not repeat them.
    older = cursor_encode(SimpleNamespace(created_at=history.now(), id="0" * 24))
    assert 'id="batches"' not in ada_client.get(f"/history/?cursor={older}").content.decode()

    home = ada_client.get("/home/").content.decode()
    recent = home[home.index('id="recent-batches"') :]
    assert all(f'href="/batches/{batch_id}/"' in recent for batch_id in ids)
    assert "succeeded" in recent
    # The dashboard's slow check sees a new batch: nothing new is a 204.
    fragment = ada_client.get("/home/?part=live").content.decode()
    assert f"newest_batch={ids[-1]}" in fragment
    assert ada_client.get(f"/home/?part=live&newest=&newest_batch={ids[-1]}").status_code == 204
    assert ada_client.get(f"/home/?part=live&newest=&newest_batch={ids[0]}").status_code == 200
    assert ada_client.get("/home/?part=live&newest=").status_code == 200

    # Others (staff included) see theirs only.
    for user in (make_user("mallory"), make_user("root", is_staff=True)):
        other = Client()
        other.force_login(user)
        assert not any(f"/batches/{batch_id}/" in other.get("/history/").content.decode() for batch_id in ids)
        assert "recent-batches" not in other.get("/home/").content.decode()


def test_pasted_rows_are_still_one_prediction_job(history, ada_client, valid_input):
    header = ",".join(valid_input)
    good = ",".join(str(v) for v in valid_input.values())
    response = ada_client.post(
        PREDICT_BATCH, {"model": "breast_cancer", "file": "", "rows": f"{header}\n{good}\n"}
    )
    assert response.status_code == 302
    [job] = history.PredictionJob.objects()
    assert response["Location"] == f"/history/{job.id}/"
    assert history.BatchJob.objects.count() == 0


# ----------------------------------------------------------------- the browser


def violations(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]


def live_state(browser) -> dict:
    return browser.execute_script(
        """
        const live = document.getElementById("batch-live");
        const bar = document.getElementById("progress");
        return {
          status: document.getElementById("status").textContent,
          ended: Number(bar.getAttribute("aria-valuenow")),
          total: Number(bar.getAttribute("aria-valuemax")),
          done: Number(document.getElementById("rows-done").dataset.count),
          failed: Number(document.getElementById("rows-failed").dataset.count),
          rate: document.getElementById("rate").textContent.trim(),
          left: document.getElementById("time-left").textContent.trim(),
          polling: live.hasAttribute("hx-trigger"),
          download: !!document.getElementById("download"),
          cancel: !!document.getElementById("cancel"),
          labels: [...live.querySelectorAll("#labels li")].map(
            (li) => [li.dataset.class, Number(li.dataset.count)]),
        };
        """
    )


@contextmanager
def downloads_into(browser, folder):
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})
    try:
        yield folder
    finally:
        browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "default"})


def test_a_file_chosen_on_the_predict_page_is_followed_live_to_its_end_and_its_results_downloaded(
    history, batch_worker, model_version, breast_cancer_table, make_user, page, settings, tmp_path
):
    settings.BATCH_CHUNK_ROWS = 30  # 300 rows: 10 chunks
    table = breast_cancer_table[0]
    bad = {17: ("mean_radius", "abc"), 250: ("worst_area", "")}
    path = tmp_path / "clinic export.csv"
    path.write_bytes(table_csv(table, rows=300, bad=bad))
    make_user("ada")
    browser = log_in(page, "ada")
    page("/predict/?model=breast_cancer")
    browser.get_log("browser")  # from an empty console

    with frozen(batch_worker):
        browser.find_element(By.ID, "id_file").send_keys(str(path))
        browser.find_element(By.ID, "id_key_column").send_keys("id")
        submit(browser, "#batch-form button[type=submit]")
        found = BATCH_PAGE.match(urlparse(browser.current_url).path)
        assert found, browser.current_url
        batch_id = found.group(1)
        shown = live_state(browser)
        assert (shown["status"], shown["ended"], shown["total"]) == ("queued", 0, 300)
        assert (shown["polling"], shown["cancel"], shown["download"]) == (True, True, False)
        assert browser.find_element(By.ID, "filename").text == "clinic export.csv"
        browser.execute_script(
            "window.stillThisPage = true; window.seen = [];"
            "document.body.addEventListener('htmx:afterSwap', () => window.seen.push("
            "  Number(document.getElementById('progress').getAttribute('aria-valuenow'))));"
        )
        # It asks again while the batch waits, without a reload.
        wait_for(browser, lambda b: len(b.execute_script("return window.seen")) >= 1, timeout=10)
        screenshots(browser, "batch-queued")

    wait_for(browser, lambda b: live_state(b)["status"] == "succeeded", timeout=120)
    assert browser.execute_script("return window.stillThisPage === true"), "the page was reloaded"
    shown = live_state(browser)
    assert (shown["ended"], shown["done"], shown["failed"]) == (300, 298, 2)
    assert (shown["polling"], shown["cancel"], shown["download"]) == (False, False, True)
    assert shown["rate"].endswith("rows/s")
    assert shown["left"] == "none"
    assert {name for name, _ in shown["labels"]} == {"benign", "malignant"}
    assert sum(count for _, count in shown["labels"]) == 298
    seen = browser.execute_script("return window.seen")
    assert seen == sorted(seen)  # only ever forward
    assert seen[-1] == 300
    assert violations(browser) == []
    screenshots(browser, "batch-succeeded")

    with downloads_into(browser, tmp_path / "downloads") as folder:
        folder.mkdir()
        browser.find_element(By.ID, "download").click()
        target = folder / "clinic_export-results.csv"
        wait_for(browser, lambda b: target.exists() and not list(folder.glob("*.crdownload")))
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert rows[0] == ["id", "label", "p_benign", "p_malignant", "error"]
    assert [row[0] for row in rows[1:]] == [f"patient-{index:05d}" for index in range(300)]
    errors = {index for index, row in enumerate(rows[1:]) if row[-1]}
    assert errors == set(bad)
    assert all(row[1] in ("benign", "malignant") for index, row in enumerate(rows[1:]) if index not in errors)

    # On the history page and the home page, linking to its page.
    browser = page("/history/")
    row = browser.find_element(By.CSS_SELECTOR, f'#batches tr[data-batch="{batch_id}"]')
    assert all(words in row.text for words in ("clinic export.csv", "succeeded", "298 / 300", "2 failed"))
    assert row.find_element(By.TAG_NAME, "a").get_attribute("href").endswith(f"/batches/{batch_id}/")
    screenshots(browser, "history-batches")
    browser = page("/home/")
    row = browser.find_element(By.CSS_SELECTOR, f'#recent-batches tr[data-batch="{batch_id}"]')
    assert all(words in row.text for words in ("succeeded", "298 / 300"))
    screenshots(browser, "home-batches")
    submit(browser, f'#recent-batches a[href="/batches/{batch_id}/"]')
    assert browser.current_url.endswith(f"/batches/{batch_id}/")
    assert violations(browser) == []


def test_a_refused_file_says_why_on_the_predict_page_in_the_browser(
    history, model_version, breast_cancer_table, make_user, page, tmp_path
):
    table = breast_cancer_table[0]
    path = tmp_path / "short.csv"
    path.write_bytes(table_csv(table.drop(columns=["worst_area"]), rows=10))
    make_user("ada")
    browser = log_in(page, "ada")
    page("/predict/?model=breast_cancer")
    browser.find_element(By.ID, "id_file").send_keys(str(path))
    browser.find_element(By.CSS_SELECTOR, "#batch-form button[type=submit]").click()
    errors = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#batch-errors li"))
    assert "worst_area" in errors[0].text
    assert browser.current_url.endswith("/predict/?model=breast_cancer")
    assert browser.find_element(By.ID, "id_file").get_attribute("aria-invalid") == "true"
    assert nothing_stored(history)
    screenshots(browser, "predict-batch-file-refused")


def test_a_waiting_batch_is_canceled_from_its_page(
    history, batch_worker, model_version, breast_cancer_table, make_user, page, settings, tmp_path
):
    settings.BATCH_CHUNK_ROWS = 10
    path = tmp_path / "rows.csv"
    path.write_bytes(table_csv(breast_cancer_table[0], rows=50))
    make_user("ada")
    browser = log_in(page, "ada")
    page("/predict/?model=breast_cancer")
    with frozen(batch_worker):
        browser.find_element(By.ID, "id_file").send_keys(str(path))
        submit(browser, "#batch-form button[type=submit]")
        browser.execute_script("window.stillThisPage = true")
        # The part around the button is replaced every second: a click on one just replaced
        # is tried again.
        wait_for(browser, lambda b: b.find_element(By.ID, "cancel").click() or True, timeout=10)
        wait_for(browser, lambda b: live_state(b)["status"] == "canceled", timeout=10)
        assert browser.execute_script("return window.stillThisPage === true")
        shown = live_state(browser)
        assert (shown["polling"], shown["download"], shown["done"], shown["failed"]) == (False, True, 0, 0)
        assert "Canceled by request" in browser.find_element(By.ID, "batch-error").text
    [batch] = history.BatchJob.objects()
    assert batch.status == "canceled"
