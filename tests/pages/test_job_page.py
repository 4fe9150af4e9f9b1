"""The predict and job pages in headless Chromium with a live worker: a job followed as it
happens without a reload, cancel while it waits, results as bars and ranges, batches from
CSV, and a submit done with the keyboard alone."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.processes import held, process_tree

from .browser import fill, log_in, mark_document, screenshots, submit, wait_for, wait_for_new_document

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]

IRIS_ROW = {"sepal_length_cm": 6.0, "sepal_width_cm": 2.9, "petal_length_cm": 4.9, "petal_width_cm": 1.6}


@pytest.fixture(scope="session")
def trained_others(mongo_server):
    """iris (three classes) and diabetes (a regressor), trained once for the session."""
    from predictor.artifacts import artifact_save
    from tests.shipped import shipped_train

    return {
        name: (result, artifact_save(result.pipeline))
        for name in ("iris", "diabetes")
        for result in [shipped_train(name)]
    }


@pytest.fixture
def iris_and_diabetes(db, trained_others):
    from tests.shipped import register

    return {name: register(name, result, sha256=sha256) for name, (result, sha256) in trained_others.items()}


def frozen(worker):
    """The worker and its pool stopped: jobs stay queued until the block ends."""
    return held(process_tree(worker.pid))


def predict_form(page, make_user, model: str = "iris"):
    """Ada, logged in, on the predict page of `model`."""
    make_user("ada")
    log_in(page, "ada")
    return page(f"/predict/?model={model}")


def status(browser) -> str:
    return browser.find_element(By.ID, "status").text


def mark_window(browser):
    """A mark that only this very document holds: a reload or a navigation loses it."""
    browser.execute_script("window.stillThisPage = true")


def same_window(browser) -> bool:
    return browser.execute_script("return window.stillThisPage === true")


def test_the_job_page_follows_the_job_from_queued_to_succeeded_without_a_reload(
    history, live_worker, iris_and_diabetes, make_user, page
):
    browser = predict_form(page, make_user)
    with frozen(live_worker):
        fill(browser, IRIS_ROW)
        submit(browser)
        # The form does not wait for the job: the browser is at once on its page.
        assert "/history/" in browser.current_url
        assert status(browser) == "queued"
        mark_window(browser)
        first_elapsed = browser.find_element(By.ID, "elapsed").text
        # The elapsed time counts on while it waits.
        wait_for(browser, lambda b: b.find_element(By.ID, "elapsed").text != first_elapsed, timeout=5)
        screenshots(browser, "job-queued")
    wait_for(browser, lambda b: status(b) == "succeeded")
    assert same_window(browser), "the page was reloaded"
    [job] = history.PredictionJob.objects()
    assert browser.find_element(By.ID, "result").text == f"Label: {job.output['label']}"
    # Once it has ended, the page stops asking.
    assert not browser.find_elements(By.CSS_SELECTOR, "#job-live[hx-trigger]")


def test_a_waiting_job_is_canceled_from_its_page_with_the_keyboard(
    history, live_worker, iris_and_diabetes, make_user, page
):
    browser = predict_form(page, make_user)
    with frozen(live_worker):
        fill(browser, IRIS_ROW)
        submit(browser)
        mark_window(browser)
        # Reached with the keyboard, the button keeps the focus while the part around it
        # is replaced every second, and Enter presses it.
        browser.execute_script(
            "window.swaps = 0; document.body.addEventListener('htmx:afterSwap', () => window.swaps++);"
        )
        browser.find_element(By.ID, "cancel").send_keys("")  # focus
        wait_for(browser, lambda b: b.execute_script("return window.swaps") >= 2, timeout=10)
        focused = browser.switch_to.active_element
        assert focused.get_attribute("id") == "cancel"
        focused.send_keys(Keys.ENTER)
        wait_for(browser, lambda b: status(b) == "canceled", timeout=10)
        assert same_window(browser)
        assert "canceled by request" in browser.find_element(By.ID, "job-error").text
    [job] = history.PredictionJob.objects()
    assert job.status == "canceled"


def test_class_probabilities_are_bars_as_wide_as_the_probability(
    history, live_worker, iris_and_diabetes, make_user, page
):
    browser = predict_form(page, make_user)
    fill(browser, IRIS_ROW)
    submit(browser)
    wait_for(browser, lambda b: status(b) == "succeeded")
    [job] = history.PredictionJob.objects()
    probabilities = job.output["probabilities"]
    assert 0.05 < max(probabilities.values()) < 0.95, "a row the model is unsure of, so widths differ"
    bars = browser.find_elements(By.CSS_SELECTOR, ".bars li")
    names = [bar.get_attribute("data-class") for bar in bars]
    # The predicted class first and marked, then the others by probability.
    assert names[0] == job.output["label"]
    assert "predicted" in bars[0].get_attribute("class")
    assert names[1:] == sorted(names[1:], key=lambda name: -probabilities[name])
    for bar in bars:
        share = browser.execute_script(
            "const li = arguments[0];"
            "return li.querySelector('.fill').getBoundingClientRect().width"
            "     / li.querySelector('.track').clientWidth;",
            bar,
        )
        assert share == pytest.approx(probabilities[bar.get_attribute("data-class")], abs=0.01)
    screenshots(browser, "job")


def test_a_regression_value_is_shown_on_the_range_it_was_trained_on(
    history, live_worker, iris_and_diabetes, make_user, page
):
    version = iris_and_diabetes["diabetes"]
    target = version.diagnostics["target"]
    browser = predict_form(page, make_user, "diabetes")
    fill(browser, {f["name"]: (f["min"] + f["max"]) / 2 for f in version.feature_schema})
    submit(browser)
    wait_for(browser, lambda b: status(b) == "succeeded")
    [job] = history.PredictionJob.objects()
    value = job.output["value"]
    position = browser.execute_script(
        "const r = document.querySelector('.range .track');"
        "const m = r.querySelector('.marker').getBoundingClientRect();"
        "const t = r.getBoundingClientRect();"
        "return (m.left + m.width / 2 - t.left) / t.width;"
    )
    expected = min(1, max(0, (value - target["min"]) / (target["max"] - target["min"])))
    assert position == pytest.approx(expected, abs=0.02)
    label = browser.find_element(By.CSS_SELECTOR, ".range .track").get_attribute("aria-label")
    assert label.startswith(f"{value:.3f} is ")
    screenshots(browser, "job-regression")


def test_a_csv_batch_with_a_bad_line_is_refused_naming_it_and_a_good_one_finishes(
    history, live_worker, iris_and_diabetes, make_user, page
):
    browser = predict_form(page, make_user)
    names = list(IRIS_ROW)
    good = [",".join(names), "5.1,3.5,1.4,0.2", "6.3,3.3,6.0,2.5", "6.0,2.9,4.9,1.6"]
    bad = [*good[:2], "6.3,3.3,wide,2.5", *good[3:]]
    browser.find_element(By.ID, "id_rows").send_keys("\n".join(bad))
    submit(browser, "#batch-form button[type=submit]")
    errors = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#batch-errors li")]
    assert errors == ['Line 3, column petal_length_cm: "wide" is not a number.']
    assert history.PredictionJob.objects.count() == 0
    # What was sent is there to correct.
    assert "wide" in browser.find_element(By.ID, "id_rows").get_attribute("value")
    screenshots(browser, "predict-batch-error")

    # Corrected, the rows are one job. (A file chosen instead is a batch file of its own:
    # tests/pages/test_batch_pages.py.)
    browser.find_element(By.ID, "id_rows").clear()
    browser.find_element(By.ID, "id_rows").send_keys("\n".join(good))
    submit(browser, "#batch-form button[type=submit]")
    wait_for(browser, lambda b: status(b) == "succeeded")
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    [job] = history.PredictionJob.objects()
    assert job.status == "succeeded"
    stored = history.job_get(job.id)  # a batch's rows and outputs are stored encoded
    assert len(stored.rows) == 3
    labels = [row.find_element(By.CSS_SELECTOR, "strong").text for row in rows]
    outputs = stored.output
    assert labels == [output["label"] for output in outputs]
    assert labels[0] == "setosa"
    assert all(len(row.find_elements(By.CSS_SELECTOR, ".bars li")) == 3 for row in rows)
    download = browser.find_element(By.PARTIAL_LINK_TEXT, "Download all 3 rows")
    assert download.get_attribute("href").endswith("/results.csv")
    screenshots(browser, "job-batch")


def test_a_prediction_is_made_with_the_keyboard_alone(
    history, live_worker, iris_and_diabetes, make_user, page
):
    browser = predict_form(page, make_user)
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    # The first Tab reaches the link that skips the navigation.
    assert browser.switch_to.active_element.text == "Skip to content"
    first = "id_" + next(iter(IRIS_ROW))
    for _ in range(30):
        if browser.switch_to.active_element.get_attribute("id") == first:
            break
        browser.switch_to.active_element.send_keys(Keys.TAB)
    else:
        pytest.fail("Tab never reached the first feature")
    for number, value in enumerate(IRIS_ROW.values()):
        field = browser.switch_to.active_element
        # Whatever has the focus shows it.
        outline = browser.execute_script("return getComputedStyle(arguments[0]).outlineStyle", field)
        assert outline != "none", field.get_attribute("id")
        field.send_keys(str(value))
        if number < len(IRIS_ROW) - 1:
            field.send_keys(Keys.TAB)
    mark_document(browser)
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for_new_document(browser)
    wait_for(browser, lambda b: status(b) == "succeeded")
    [job] = history.PredictionJob.objects()
    assert job.input == IRIS_ROW
    assert browser.find_element(By.ID, "result").text == f"Label: {job.output['label']}"


def test_the_predict_page_at_desktop_and_phone_width(history, iris_and_diabetes, make_user, page):
    browser = predict_form(page, make_user)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= browser.execute_script("return window.innerWidth")
    screenshots(browser, "predict")
    # Every input of the page has a label.
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('main input:not([type=hidden]), main select, main textarea')]"
        ".filter(e => !(e.labels && e.labels.length)).map(e => e.name)"
    )
    assert unlabelled == []
