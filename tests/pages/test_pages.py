"""The pages people use, in headless Chromium against a live server and a live worker."""

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.clients import PASSWORD

from .browser import fill, log_in, screenshots, submit

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]


def test_a_person_registers_predicts_and_finds_it_in_history(
    history, live_worker, model_version, valid_input, page
):
    browser = page("/accounts/register/")
    fill(
        browser,
        {
            "username": "grace",
            "email": "grace@example.com",
            "password": "tumour-Lab-2048",
            "password_confirm": "tumour-Lab-2048",
            "display_name": "Grace H",
        },
    )
    submit(browser)
    assert browser.current_url.endswith("/home/")
    assert "Welcome, Grace H" in browser.find_element(By.TAG_NAME, "h1").text

    browser = page("/predict/?model=breast_cancer")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".grid input")) == 30
    fill(browser, valid_input)
    submit(browser)
    assert "/history/" in browser.current_url
    # The form lands at once on the job's page, which follows the job until it ends.
    WebDriverWait(browser, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda b: b.find_element(By.ID, "status").text == "succeeded"
    )
    assert browser.find_element(By.ID, "result").text == "Label: malignant"
    screenshots(browser, "job-binary")

    # The person says what the truth was; it becomes a training sample.
    Select(browser.find_element(By.NAME, "label")).select_by_visible_text("benign")
    submit(browser)
    assert "Thank you" in browser.page_source
    [sample] = history.LabelledSample.objects()
    assert (sample.label, sample.source, sample.features) == ("benign", "feedback", valid_input)
    assert browser.find_element(By.NAME, "label").get_attribute("value") == "benign"

    browser = page("/history/")
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 1
    assert "breast_cancer v1" in rows[0].text
    assert "succeeded" in rows[0].text
    assert history.PredictionJob.objects.count() == 1


def test_the_predict_form_names_the_bad_field_and_queues_nothing(
    history, make_user, model_version, valid_input, page
):
    make_user("ada")
    browser = log_in(page, "ada")
    browser = page("/predict/?model=breast_cancer")
    fill(browser, {**valid_input, "mean_radius": "wide"})
    submit(browser)
    errors = browser.find_elements(By.CSS_SELECTOR, ".error")
    assert [error.text for error in errors] == ["Enter a number."]
    field = browser.find_element(By.NAME, "mean_radius")
    assert (
        field.find_element(By.XPATH, "..").find_element(By.CSS_SELECTOR, ".error").text == "Enter a number."
    )
    assert history.PredictionJob.objects.count() == 0


def test_pages_ask_for_a_login_and_a_wrong_password_is_refused(history, make_user, page):
    make_user("ada")
    browser = page("/history/")
    assert "/accounts/login/" in browser.current_url
    fill(browser, {"username": "ada", "password": "not-it"})
    submit(browser)
    assert "did not match" in browser.find_element(By.CSS_SELECTOR, ".error").text
    fill(browser, {"username": "ada", "password": PASSWORD})
    submit(browser)
    assert browser.current_url.endswith("/history/")


def test_a_person_edits_their_profile(history, make_user, page):
    user = make_user("ada")
    browser = log_in(page, "ada")
    browser = page("/profile/")
    fill(browser, {"display_name": "Ada L", "organization": "Analytical Engines"})
    submit(browser)
    assert "Saved." in browser.page_source
    user.profile.refresh_from_db()
    assert (user.profile.display_name, user.profile.organization) == ("Ada L", "Analytical Engines")
    assert browser.find_element(By.NAME, "organization").get_attribute("value") == "Analytical Engines"


def test_the_models_page_shows_versions_and_metrics(history, model_version, page, make_user):
    make_user("ada")
    log_in(page, "ada")
    browser = page("/models/")
    section = browser.find_element(By.ID, "model-breast_cancer")
    assert section.text == "breast_cancer"
    table = browser.find_element(By.CSS_SELECTOR, "table")
    assert "v1" in table.text
    assert "champion" in table.text
    assert f"roc_auc {model_version.metrics['roc_auc']:.4f}" in table.text


def test_the_api_docs_render_without_any_cdn(history, page):
    browser = page("/api/v1/docs/")
    WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    paths = {element.text for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/api/v1/predictions/" in paths
    assert "cdn" not in browser.page_source.lower()
    screenshots(browser, "docs")


PHONE_WIDTH_CHECK = """
const overflow = document.documentElement.scrollWidth - document.documentElement.clientWidth;
const unlabelled = [...document.querySelectorAll(
    'main input:not([type=hidden]), main select, main textarea')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name);
return {overflow, unlabelled};
"""


def test_every_other_page_fits_a_phone_labels_its_inputs_and_is_photographed(
    history, make_user, stored_job, logged_deliveries, page
):
    """Screenshots at desktop and phone width of the pages no other test photographs
    (README.md shows the main ones); at phone width nothing scrolls sideways."""
    ada = make_user("ada", is_staff=False)
    for status, output, error in [
        ("succeeded", {"label": "malignant", "probabilities": {"malignant": 0.97, "benign": 0.03}}, None),
        ("failed", None, "prediction failed: the artifact could not be read"),
        ("canceled", None, "canceled by request"),
        ("queued", None, None),
    ]:
        stored_job(owner=ada, status=status, output=output, error=error)
    # A job with a webhook: its page lists the delivery attempts (a long URL must still fit).
    hook = "https://hooks.example.com/platform/predictions/breast-cancer/finished?source=prediction-platform"
    hooked = stored_job(
        owner=ada,
        status="succeeded",
        output={"label": "benign", "probabilities": {"malignant": 0.08, "benign": 0.92}},
        create={"webhook": hook, "webhook_events_filter": ["completed", "start"]},
    )
    logged_deliveries(hooked, [(503, None, 0.412), (None, "timed out after 10 s", 10.0), (204, None, 0.087)])
    pages = {"index": "/", "login": "/accounts/login/", "register": "/accounts/register/"}
    for name, path in pages.items():
        browser = page(path)
        screenshots(browser, name)
    log_in(page, "ada")
    for name, path in {
        "history": "/history/",
        "profile": "/profile/",
        "password": "/accounts/password/",
        "job-webhook": f"/history/{hooked.id}/",
    }.items():
        browser = page(path)
        screenshots(browser, name)
        browser.set_window_size(390, 844)
        found = browser.execute_script(PHONE_WIDTH_CHECK)
        browser.set_window_size(1280, 900)
        assert found == {"overflow": 0, "unlabelled": []}, name
    browser = page("/history/")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tbody tr")) == 5
