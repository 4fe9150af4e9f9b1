"""The datasets pages in headless Chromium: a real CSV (Palmer penguins) uploaded through
the form with its progress shown, its column profile drawn as histograms and bars, a ragged
file refused naming its line, and both pages at desktop and phone width."""

import json
from importlib import resources

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from .browser import PHONE, fill, log_in, screenshots, submit, wait_for

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]

PENGUINS_CSV = resources.files("palmerpenguins") / "data" / "penguins.csv"


def model_builder(make_user, username: str):
    """A user in the "model builders" group. The group is made by a data migration, which a
    transactional test's flush removes: it is made again here when missing."""
    from tests.clients import model_builder_group

    user = make_user(username)
    user.groups.add(model_builder_group())
    return user


# Written into sessionStorage, so that it outlives the navigation that ends the upload.
WATCH_PROGRESS = """
const box = document.querySelector('[data-upload-progress]');
const seen = [];
new MutationObserver(() => {
  seen.push({hidden: box.hidden, value: box.querySelector('progress').getAttribute('value'),
             status: box.querySelector('[role=status]').textContent});
  sessionStorage.setItem('upload', JSON.stringify(seen));
}).observe(box, {attributes: true, subtree: true, childList: true, characterData: true});
"""


def fits_the_width(browser) -> bool:
    return browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def test_a_csv_uploaded_through_the_page_shows_its_columns(history, make_user, page):
    model_builder(make_user, "bea")
    browser = log_in(page, "bea")
    browser = page("/datasets/")
    assert browser.find_element(By.CSS_SELECTOR, "nav.site a[aria-current=page]").text == "Datasets"
    fill(browser, {"name": "penguins"})
    Select(browser.find_element(By.ID, "id_visibility")).select_by_value("shared")
    browser.find_element(By.ID, "id_file").send_keys(str(PENGUINS_CSV))
    browser.execute_script(WATCH_PROGRESS)
    submit(browser, "#upload-form button[type=submit]")

    assert browser.current_url.endswith("/datasets/penguins/")
    seen = json.loads(browser.execute_script("return sessionStorage.getItem('upload')") or "[]")
    # The bar was shown and said what it was doing (the script's upload, not a plain post).
    assert any(not state["hidden"] for state in seen), seen
    assert any(state["status"].startswith("Uploading") for state in seen), seen
    assert (
        browser.find_element(By.CSS_SELECTOR, ".flash").text == "Uploaded penguins v1: 344 rows, 8 columns."
    )

    columns = browser.find_elements(By.CSS_SELECTOR, "table.columns tbody tr")
    assert [row.get_attribute("data-column") for row in columns] == [
        "species",
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    ]
    # A number: ten bins, the fullest as high as the box.
    bins = browser.find_elements(By.CSS_SELECTOR, 'tr[data-column="flipper_length_mm"] svg rect')
    assert len(bins) == 10
    heights = [float(rect.get_attribute("height")) for rect in bins]
    assert max(heights) == pytest.approx(38)
    label = browser.find_element(By.CSS_SELECTOR, 'tr[data-column="flipper_length_mm"] svg').get_attribute(
        "aria-label"
    )
    assert label.startswith("Histogram of flipper_length_mm: 10 bins from 172 to 231")
    # A category: its most frequent values as bars as wide as their share of the rows.
    bars = browser.find_elements(By.CSS_SELECTOR, 'tr[data-column="species"] .bars li')
    assert [bar.get_attribute("data-value") for bar in bars] == ["Adelie", "Gentoo", "Chinstrap"]
    share = browser.execute_script(
        "const li = arguments[0];"
        "return li.querySelector('.fill').getBoundingClientRect().width"
        "     / li.querySelector('.track').clientWidth;",
        bars[0],
    )
    assert share == pytest.approx(152 / 344, abs=0.01)
    missing = browser.find_element(By.CSS_SELECTOR, 'tr[data-column="sex"] td[data-label="Missing"]').text
    assert missing == "11 (3.2%)"
    assert len(browser.find_elements(By.CSS_SELECTOR, ".preview tbody tr")) == 5
    assert fits_the_width(browser)
    screenshots(browser, "dataset-detail")
    browser.set_window_size(*PHONE)
    assert fits_the_width(browser)

    browser = page("/datasets/")
    [row] = browser.find_elements(By.CSS_SELECTOR, "table.datasets tbody tr")
    assert row.find_element(By.CSS_SELECTOR, "th a").get_attribute("href").endswith("/datasets/penguins/")
    assert row.find_element(By.CSS_SELECTOR, 'td[data-label="Rows"]').text == "344"
    assert row.find_element(By.CSS_SELECTOR, 'td[data-label="Owner"]').text == "bea"
    screenshots(browser, "datasets")


def test_a_ragged_file_is_refused_naming_its_line_and_nothing_is_kept(history, make_user, page, tmp_path):
    from predictor.models import Dataset

    model_builder(make_user, "bea")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,c\n1,2,3\n4,5\n6,7,8\n")
    browser = log_in(page, "bea")
    browser = page("/datasets/")
    fill(browser, {"name": "ragged"})
    browser.find_element(By.ID, "id_file").send_keys(str(ragged))
    browser.execute_script("window.stillThisPage = true")
    browser.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
    error = wait_for(browser, lambda b: b.find_elements(By.ID, "error_file"))[0]
    assert "line 3" in error.text.lower()
    # The script put the refused form in place: the same page, the name kept, the file to choose again.
    assert browser.execute_script("return window.stillThisPage === true")
    assert browser.find_element(By.ID, "id_name").get_attribute("value") == "ragged"
    assert browser.find_element(By.ID, "id_file").get_attribute("aria-invalid") == "true"
    assert not Dataset.objects.exists()
    screenshots(browser, "datasets-upload-error")

    # A second try from the replaced form goes through the script too.
    browser.find_element(By.ID, "id_file").send_keys(str(PENGUINS_CSV))
    fill(browser, {"name": "penguins"})
    submit(browser, "#upload-form button[type=submit]")
    assert browser.current_url.endswith("/datasets/penguins/")


def test_without_the_upload_script_the_form_posts_as_it_is(history, make_user, page):
    model_builder(make_user, "bea")
    browser = log_in(page, "bea")
    browser = page("/datasets/")
    # What a browser without JavaScript sends: the form's own multipart POST (a copy of the
    # form has none of the script's listeners).
    browser.execute_script(
        "const form = document.getElementById('upload-form'); form.replaceWith(form.cloneNode(true));"
    )
    fill(browser, {"name": "penguins"})
    browser.find_element(By.ID, "id_file").send_keys(str(PENGUINS_CSV))
    submit(browser, "#upload-form button[type=submit]")
    assert browser.current_url.endswith("/datasets/penguins/")
    assert (
        browser.find_element(By.CSS_SELECTOR, ".flash").text == "Uploaded penguins v1: 344 rows, 8 columns."
    )


def test_someone_who_is_no_model_builder_sees_the_shared_datasets_only(history, make_user, page):
    from predictor.datasets import dataset_upload

    bea = model_builder(make_user, "bea")
    with PENGUINS_CSV.open("rb") as stream:
        dataset_upload(name="penguins", stream=stream, owner=bea, visibility="shared")
    with PENGUINS_CSV.open("rb") as stream:
        dataset_upload(name="private-penguins", stream=stream, owner=bea)
    make_user("eve")
    browser = log_in(page, "eve")
    browser = page("/datasets/")
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "table.datasets th a")]
    assert names == ["penguins"]
    assert not browser.find_elements(By.ID, "upload-form")
    browser = page("/datasets/private-penguins/")
    assert "Not Found" in browser.page_source
