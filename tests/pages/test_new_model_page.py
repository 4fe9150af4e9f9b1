"""A model made from your own data, in headless Chromium: the new model form (the task it
infers following the target), the model on the models page with its owner, definition and
`auto` leaderboard, and the predict form of its typed features (a category select, a
nullable number left empty) with a live worker, an unseen category warned of."""

import io
from importlib import resources

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from .browser import log_in, screenshots, submit, wait_for
from .test_dataset_pages import model_builder

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]

PENGUINS = (resources.files("palmerpenguins") / "data" / "penguins.csv").read_bytes()


def upload_penguins(owner, name: str = "penguins", visibility: str = "shared"):
    from predictor.datasets import dataset_upload

    return dataset_upload(name=name, stream=io.BytesIO(PENGUINS), owner=owner, visibility=visibility)


@pytest.fixture(scope="session")
def trained_penguins(mongo_server):
    """species from every other column of penguins.csv with `auto` (each estimator
    cross-validated, the best kept), trained once for the session and stored."""
    from predictor import tabular
    from predictor.artifacts import artifact_save
    from predictor.definitions import MULTICLASS, Definition
    from predictor.fitting import train

    profile = tabular.profile_csv(io.BytesIO(PENGUINS), limits=tabular.Limits())
    names = [column["name"] for column in profile.columns]
    table = tabular.load_frame(io.BytesIO(PENGUINS), profile.columns, usecols=names)
    features = [{"name": c["name"], "type": c["type"]} for c in profile.columns if c["name"] != "species"]
    definition = Definition(
        name="penguin-species",
        task=MULTICLASS,
        target="species",
        features=features,
        estimator="auto",
        params={},
        primary_metric="f1_macro",
    )
    result = train(definition, table, cv_max_rows=10_000)
    return result, artifact_save(result.pipeline)


@pytest.fixture
def penguin_model(trained_penguins, make_user):
    """bea's shared penguin-species, defined through model_define, its session training
    registered as v1 (champion)."""
    import sklearn

    from predictor.definitions import model_define
    from predictor.registry import version_register

    bea = model_builder(make_user, "bea")
    model, _ = model_define(
        name="penguin-species",
        dataset_version=upload_penguins(bea),
        target="species",
        owner=bea,
        visibility="shared",
    )
    result, sha256 = trained_penguins
    return version_register(model, result, artifact_sha256=sha256, sklearn_version=sklearn.__version__)


def inferred(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, "[data-inferred-task]").text


def feature_box(browser, name: str):
    return browser.find_element(By.CSS_SELECTOR, f'input[data-feature][value="{name}"]')


def test_a_model_is_made_through_the_form_and_shown_on_the_models_page(
    history, purged_queues, make_user, page
):
    from predictor.models import MLModel

    upload_penguins(model_builder(make_user, "bea"))
    browser = log_in(page, "bea")
    browser = page("/models/")
    browser.find_element(By.LINK_TEXT, "New model").click()
    wait_for(browser, lambda b: b.current_url.endswith("/models/new/"))
    # Step 1: the dataset. With the script, choosing it is enough (the page asks for step 2).
    assert not browser.find_elements(By.ID, "id_target")
    assert not browser.find_element(By.CSS_SELECTOR, "[data-autosubmit-button]").is_displayed()
    Select(browser.find_element(By.ID, "id_dataset")).select_by_value("penguins")
    wait_for(browser, lambda b: b.find_elements(By.ID, "id_target"))
    assert browser.current_url.endswith("/models/new/?dataset=penguins")

    # Step 2: the task follows the target (and the task asked), before anything is sent.
    target = Select(browser.find_element(By.ID, "id_target"))
    target.select_by_value("body_mass_g")
    assert inferred(browser) == "regression"
    assert (
        "body_mass_g is a number column of"
        in browser.find_element(By.CSS_SELECTOR, "[data-inferred-reason]").text
    )
    assert not feature_box(browser, "body_mass_g").is_enabled()
    assert not feature_box(browser, "body_mass_g").is_selected()
    logistic = browser.find_element(By.CSS_SELECTOR, '#id_estimator option[value="logistic_regression"]')
    assert not logistic.is_enabled()  # a classifier only
    target.select_by_value("year")
    assert inferred(browser) == "multiclass classification"  # three whole values: classes
    Select(browser.find_element(By.ID, "id_task")).select_by_value("regression")
    assert inferred(browser) == "regression"
    Select(browser.find_element(By.ID, "id_task")).select_by_value("auto")
    target.select_by_value("species")
    assert inferred(browser) == "multiclass classification"
    assert (
        "species is a category column of 3 distinct values"
        in browser.find_element(By.CSS_SELECTOR, "[data-inferred-reason]").text
    )
    # The earlier targets are features again; the new one is not.
    assert feature_box(browser, "body_mass_g").is_selected()
    assert feature_box(browser, "year").is_selected()
    assert not feature_box(browser, "species").is_enabled()
    assert logistic.is_enabled()
    assert not browser.find_element(By.CSS_SELECTOR, '#id_estimator option[value="ridge"]').is_enabled()
    feature_box(browser, "year").click()  # left out
    browser.find_element(By.ID, "id_name").send_keys("penguin-species")
    screenshots(browser, "model-new")

    submit(browser, "#model-form button[type=submit]")
    assert browser.current_url.endswith("/models/#model-penguin-species")
    flashes = [p.text for p in browser.find_elements(By.CSS_SELECTOR, ".flash")]
    assert flashes[0] == "penguin-species is defined on penguins v1: training queued."
    assert "task: multiclass_classification (auto, from the target column 'species')." in flashes
    model = MLModel.objects.get(name="penguin-species")
    assert [f["name"] for f in model.features] == [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
    ]
    section = browser.find_element(By.CSS_SELECTOR, "section.model:has(#model-penguin-species)")
    assert "bea" in section.find_element(By.CSS_SELECTOR, "dl.summary .owner dd").text
    assert "private" in section.find_element(By.CSS_SELECTOR, "dl.summary .owner dd").text
    assert section.find_element(By.CSS_SELECTOR, "p.definition").text == (
        "Learns species from 6 features of penguins v1 with auto (the best estimator at each training)."
    )
    # Its owner may train it.
    assert section.find_element(By.CSS_SELECTOR, ".owner-actions button").text == "Train now"


def test_the_models_page_shows_the_auto_leaderboard_as_a_chart_and_a_table(
    history, penguin_model, make_user, page
):
    log_in(page, "bea")
    browser = page("/models/#model-penguin-species")
    board = penguin_model.leaderboard
    assert board[0]["estimator"] == penguin_model.estimator
    canvas = browser.find_element(By.CSS_SELECTOR, 'canvas[data-chart="leaderboard-penguin-species"]')
    chart = wait_for(
        browser,
        lambda b: b.execute_script(
            "const c = Chart.getChart(arguments[0]);"
            "return c && {type: c.config.type, axis: c.options.indexAxis,"
            "             labels: c.data.labels, data: c.data.datasets[0].data};",
            canvas,
        ),
    )
    assert (chart["type"], chart["axis"]) == ("bar", "y")
    assert chart["data"] == [entry["cv_score"] for entry in board]
    assert len(chart["labels"]) == 3
    assert "Chosen: " in canvas.get_attribute("aria-label")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.leaderboard tbody tr")
    assert [row.get_attribute("data-estimator") for row in rows] == [entry["estimator"] for entry in board]
    assert "chosen" in rows[0].get_attribute("class")
    # The owner's controls: train, and promote/roll back where there is something to do.
    section = browser.find_element(By.CSS_SELECTOR, "section.model:has(#model-penguin-species)")
    assert section.find_element(By.CSS_SELECTOR, ".owner-actions button").text == "Train now"
    assert "Training runs" in section.text
    browser.execute_script("arguments[0].scrollIntoView()", section)
    screenshots(browser, "models-leaderboard")


def test_the_predict_form_of_typed_features_makes_a_job(history, live_worker, penguin_model, make_user, page):
    make_user("ada")
    browser = log_in(page, "ada")
    browser = page("/predict/?model=penguin-species")
    island = Select(browser.find_element(By.ID, "id_island"))
    assert [option.text for option in island.options] == ["Choose…", "Biscoe", "Dream", "Torgersen"]
    sex = Select(browser.find_element(By.ID, "id_sex"))
    assert sex.first_selected_option.text == "(none)"
    island.select_by_value("Torgersen")
    for name, value in {
        "bill_depth_mm": "18.7",
        "flipper_length_mm": "181",
        "body_mass_g": "3750",
        "year": "2007",
    }.items():
        browser.find_element(By.NAME, name).send_keys(value)
    # bill_length_mm may be missing: left empty; sex too.
    assert "may be left empty" in browser.find_element(By.ID, "hint_id_bill_length_mm").text
    screenshots(browser, "predict-typed")
    submit(browser, "#single-form button[type=submit]")
    wait_for(browser, lambda b: b.find_element(By.ID, "status").text == "succeeded")
    [job] = history.PredictionJob.objects()
    assert job.input["bill_length_mm"] is None
    assert job.input["island"] == "Torgersen"
    assert browser.find_element(By.ID, "result").text == f"Label: {job.output['label']}"
    assert not browser.find_elements(By.CSS_SELECTOR, "ul.warnings")

    # A batch with an island never seen in training: predicted, and warned of on its row.
    browser = page("/predict/?model=penguin-species")
    header = "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year"
    rows = [header, "Biscoe,45.1,14.5,215,5000,female,2008", "Atlantis,NA,18,190,3800,,2009"]
    browser.find_element(By.ID, "id_rows").send_keys("\n".join(rows))
    submit(browser, "#batch-form button[type=submit]")
    wait_for(browser, lambda b: b.find_element(By.ID, "status").text == "succeeded")
    results = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    assert not results[0].find_elements(By.CSS_SELECTOR, "ul.warnings")
    warning = results[1].find_element(By.CSS_SELECTOR, "ul.warnings").text
    assert warning.startswith("island: 'Atlantis' was not seen in training")
    screenshots(browser, "job-warnings")
