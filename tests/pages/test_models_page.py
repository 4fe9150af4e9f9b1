"""The models page in headless Chromium: the charts read back from the live Chart.js
instances, the held-out diagnostics, and the staff's promote / roll back confirmations."""

import pytest
import sklearn
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from api.views.model_charts import contrast
from predictor import registry
from predictor.models import MLModel, ModelVersion

from .browser import log_in, mark_document, screenshots, submit, wait_for, wait_for_new_document

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]

METRICS = {
    1: {"roc_auc": 0.99, "accuracy": 0.95, "f1": 0.96, "log_loss": 0.12},
    2: {"roc_auc": 0.995, "accuracy": 0.97, "f1": 0.975, "log_loss": 0.09},
    3: {"roc_auc": 0.9, "accuracy": 0.85, "f1": 0.86, "log_loss": 0.4},
}
REJECTED = "roc_auc 0.9 is worse than champion v2's 0.995"


def add_version(trained_breast_cancer, **fields) -> ModelVersion:
    """Another breast_cancer version (a candidate), with `fields` stored on it."""
    result, sha256 = trained_breast_cancer
    version = registry.version_register(
        MLModel.objects.get(name="breast_cancer"),
        result,
        artifact_sha256=sha256,
        sklearn_version=sklearn.__version__,
    )
    if fields:
        ModelVersion.objects.filter(pk=version.pk).update(**fields)
        version.refresh_from_db()
    return version


@pytest.fixture
def three_versions(model_version, trained_breast_cancer):
    """v1 archived (champion before), v2 champion, v3 rejected, each with known metrics."""
    ModelVersion.objects.filter(pk=model_version.pk).update(metrics=METRICS[1])
    v2 = add_version(trained_breast_cancer, metrics=METRICS[2])
    registry.version_promote(v2, reason="roc_auc 0.995 is not worse than champion v1's 0.99")
    v3 = add_version(trained_breast_cancer, metrics=METRICS[3])
    registry.version_reject(v3, reason=REJECTED)
    return {v.number: v for v in ModelVersion.objects.filter(model__name="breast_cancer")}


def status_of(number: int) -> str:
    return ModelVersion.objects.get(model__name="breast_cancer", number=number).status


def chart_of(browser, data_chart: str) -> dict:
    """The live Chart.js instance drawn on <canvas data-chart=...>, as plain data."""
    canvas = browser.find_element(By.CSS_SELECTOR, f'canvas[data-chart="{data_chart}"]')
    wait_for(browser, lambda b: b.execute_script("return !!Chart.getChart(arguments[0])", canvas))
    return browser.execute_script(
        """const chart = Chart.getChart(arguments[0]);
        return {labels: chart.data.labels, type: chart.config.type,
                datasets: chart.data.datasets.map(d => ({label: d.label, data: d.data,
                    pointStyle: d.pointStyle, colour: d.pointBackgroundColor}))};""",
        canvas,
    )


def tooltip_of(browser, data_chart: str, index: int) -> list[str]:
    """What the chart's tooltip says of point `index` when it is shown."""
    canvas = browser.find_element(By.CSS_SELECTOR, f'canvas[data-chart="{data_chart}"]')
    return browser.execute_script(
        """const chart = Chart.getChart(arguments[0]);
        const point = chart.getDatasetMeta(0).data[arguments[1]];
        chart.tooltip.setActiveElements([{datasetIndex: 0, index: arguments[1]}], {x: point.x, y: point.y});
        chart.update();
        const t = chart.tooltip;
        return [...t.title, ...t.body.flatMap(b => [...b.lines, ...b.after])];""",
        canvas,
        index,
    )


# The elements that reach past the page's right edge (outside a scrolling .table-wrap).
WIDER_THAN_THE_PAGE = """
const width = document.documentElement.clientWidth;
return [...document.querySelectorAll("body *")]
  .filter(el => !el.closest(".table-wrap") && el.getBoundingClientRect().right > width + 0.5)
  .map(el => el.tagName + "." + el.className + " " + Math.round(el.getBoundingClientRect().right));
"""


def follow(browser, link_text: str):
    mark_document(browser)
    browser.find_element(By.LINK_TEXT, link_text).click()
    wait_for_new_document(browser)


def count(browser, selector: str) -> int:
    # querySelectorAll: no implicit wait when there are none, which is the point.
    return browser.execute_script("return document.querySelectorAll(arguments[0]).length", selector)


def test_the_chart_has_one_point_per_version_and_marks_the_champion_and_the_rejected(
    history, three_versions, make_user, page
):
    make_user("ada")
    browser = log_in(page, "ada")
    browser = page("/models/")
    chart = chart_of(browser, "versions-breast_cancer")

    [dataset] = chart["datasets"]
    assert chart["labels"] == ["v1", "v2", "v3"]
    assert dataset["label"] == "roc_auc"
    assert dataset["data"] == [METRICS[n]["roc_auc"] for n in (1, 2, 3)]
    # The champion (v2) is the one green diamond; the rejected v3 a red cross.
    assert dataset["pointStyle"] == ["circle", "rectRot", "crossRot"]
    assert dataset["colour"] == ["#0a53be", "#116329", "#a40e26"]
    legend = browser.find_element(By.CSS_SELECTOR, "figure.plot figcaption").text
    assert "champion (v2, serving)" in legend
    assert "rejected" in legend

    # The rejected version's reason: in its tooltip and in the table.
    assert tooltip_of(browser, "versions-breast_cancer", 2)[:2] == ["v3 · rejected", "roc_auc 0.9000"]
    assert "Rejected: " + REJECTED == " ".join(tooltip_of(browser, "versions-breast_cancer", 2)[2:])
    assert REJECTED in browser.find_element(By.ID, "version-breast_cancer-3").text
    assert "rejected" in browser.find_element(By.ID, "version-breast_cancer-3").text

    canvas = browser.find_element(By.CSS_SELECTOR, 'canvas[data-chart="versions-breast_cancer"]')
    assert canvas.get_attribute("role") == "img"
    label = canvas.get_attribute("aria-label")
    assert label.startswith("roc_auc of breast_cancer across 3 versions, from 0.9000 (v3) to 0.9950 (v2)")
    assert "champion v2: 0.9950" in label

    # Another metric, on demand: the same points, that metric's values.
    select = browser.find_element(By.ID, "metric-breast_cancer")
    assert browser.find_element(By.CSS_SELECTOR, "label[for=metric-breast_cancer]").text == "Metric shown"
    Select(select).select_by_value("accuracy")
    [dataset] = chart_of(browser, "versions-breast_cancer")["datasets"]
    assert dataset["label"] == "accuracy"
    assert dataset["data"] == [METRICS[n]["accuracy"] for n in (1, 2, 3)]
    assert dataset["pointStyle"] == ["circle", "rectRot", "crossRot"]
    assert canvas.get_attribute("aria-label").startswith("accuracy of breast_cancer across 3 versions")


def test_the_page_has_no_inline_script_and_fits_a_phone(history, three_versions, make_user, page):
    make_user("root", is_staff=True)
    browser = log_in(page, "root")
    browser = page("/models/")
    chart_of(browser, "versions-breast_cancer")
    scripts = browser.execute_script(
        "return [...document.scripts].map(s => [s.getAttribute('src') || '', s.type, s.textContent.trim()])"
    )
    for src, kind, text in scripts:
        assert src or kind == "application/json", text
    assert not [src for src, _, _ in scripts if src.startswith("http")]
    # Every input is labelled.
    assert browser.execute_script(
        "return [...document.querySelectorAll('main select, main input:not([type=hidden])')]"
        ".every(el => el.labels && el.labels.length)"
    )
    try:
        browser.set_window_size(390, 844)
        wait_for(browser, lambda b: b.execute_script("return window.innerWidth") <= 400)
        # The charts follow the new width on their next frame (Chart.js's ResizeObserver).
        fits = "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        try:
            wait_for(browser, lambda b: b.execute_script(fits), timeout=5)
        except TimeoutException:
            pytest.fail(f"wider than a phone: {browser.execute_script(WIDER_THAN_THE_PAGE)}")
    finally:
        browser.set_window_size(1280, 900)


def test_the_confusion_matrix_is_the_stored_one(history, model_version, make_user, page):
    stored = model_version.diagnostics["confusion_matrix"]  # the field training fills
    assert stored["labels"] == ["benign", "malignant"]
    make_user("ada")
    browser = log_in(page, "ada")
    browser = page("/models/")

    table = browser.find_element(By.CSS_SELECTOR, "table.confusion")
    assert "held-out" in table.find_element(By.TAG_NAME, "caption").text
    headers = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead tr:last-child th[scope=col]")]
    assert headers == ["Actual", "benign", "malignant", "Rows"]
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "th[scope=row]").text for row in rows] == stored["labels"]
    shown = [
        [int(cell.text) for cell in row.find_elements(By.CSS_SELECTOR, "td.cell .count")] for row in rows
    ]
    assert shown == stored["matrix"]
    # The shade is the share of the row, and the text stays readable on it.
    for row in rows:
        for cell in row.find_elements(By.CSS_SELECTOR, "td.cell"):
            colours = browser.execute_script(
                "const s = getComputedStyle(arguments[0]); return [s.backgroundColor, s.color];", cell
            )
            background, text = (
                "#" + "".join(f"{int(c):02x}" for c in colour[colour.index("(") + 1 : -1].split(","))
                for colour in colours
            )
            assert contrast(background, text) >= 4.5
    benign_benign = rows[0].find_element(By.CSS_SELECTOR, "td.cell").value_of_css_property("background-color")
    benign_malignant = (
        rows[0].find_elements(By.CSS_SELECTOR, "td.cell")[1].value_of_css_property("background-color")
    )
    assert benign_benign != benign_malignant  # most benign rows are predicted benign: a darker cell

    # Exact values, written to the field.
    matrix = {"labels": ["benign", "malignant"], "matrix": [[40, 2], [7, 30]]}
    ModelVersion.objects.filter(pk=model_version.pk).update(
        diagnostics={"held_out_rows": 79, "confusion_matrix": matrix}
    )
    browser = page("/models/")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.confusion tbody tr")
    assert [[int(c.text) for c in r.find_elements(By.CSS_SELECTOR, "td.cell .count")] for r in rows] == [
        [40, 2],
        [7, 30],
    ]
    assert [r.find_elements(By.CSS_SELECTOR, "td.num")[-1].text for r in rows] == ["42", "37"]
    assert "70 of 79 held-out rows predicted correctly" in browser.page_source

    # A version trained before diagnostics were kept.
    ModelVersion.objects.filter(pk=model_version.pk).update(diagnostics={})
    browser = page("/models/")
    assert count(browser, "table.confusion") == 0
    assert (
        "Not recorded for this version (trained before diagnostics were kept)."
        in browser.find_element(By.ID, "content").text
    )


def test_a_regressors_scatter_has_every_stored_point(history, model_version, make_user, page):
    from tests.shipped import register

    register("diabetes", sha256="0" * 64)
    points = ModelVersion.objects.get(model__name="diabetes").diagnostics["predicted_vs_actual"]["points"]
    make_user("ada")
    browser = log_in(page, "ada")
    browser = page("/models/")

    chart = chart_of(browser, "scatter-diabetes")
    rows, diagonal = chart["datasets"]
    assert chart["type"] == "scatter"
    assert len(rows["data"]) == len(points) == 111
    assert [[p["x"], p["y"]] for p in rows["data"]] == points
    # The y = x line, across the range of the points.
    assert all(p["x"] == p["y"] for p in diagonal["data"])
    canvas = browser.find_element(By.CSS_SELECTOR, 'canvas[data-chart="scatter-diabetes"]')
    assert canvas.get_attribute("role") == "img"
    assert "111 held-out rows of diabetes v1" in canvas.get_attribute("aria-label")
    axes = browser.execute_script(
        "const s = Chart.getChart(arguments[0]).options.scales; return [s.x.title.text, s.y.title.text]",
        canvas,
    )
    assert axes == ["Actual value", "Predicted value"]
    target = browser.find_element(By.CSS_SELECTOR, "table.target")
    assert "Median" in target.text
    # breast_cancer's chart and matrix are there too, each for its own model.
    assert count(browser, 'canvas[data-chart="versions-breast_cancer"]') == 1
    assert count(browser, "table.confusion") == 1


def test_staff_promote_a_version_after_a_confirmation_and_roll_back(
    history, model_version, trained_breast_cancer, make_user, page
):
    add_version(trained_breast_cancer)
    make_user("root", is_staff=True)
    browser = log_in(page, "root")
    browser = page("/models/")
    assert count(browser, "a[href='/models/breast_cancer/versions/1/promote/']") == 0  # the champion

    # Cancel leaves everything as it was.
    follow(browser, "Promote v2")
    follow(browser, "Cancel")
    assert browser.current_url.endswith("/models/#model-breast_cancer")
    assert (status_of(1), status_of(2)) == ("champion", "candidate")

    follow(browser, "Promote v2")
    assert browser.current_url.endswith("/models/breast_cancer/versions/2/promote/")
    assert browser.find_element(By.CSS_SELECTOR, ".outcome").text == (
        "v2 becomes the champion of breast_cancer; v1 is archived."
    )
    assert (status_of(1), status_of(2)) == ("champion", "candidate")  # nothing yet
    assert browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").text == "Promote v2"
    submit(browser)
    assert "/models/" in browser.current_url
    assert browser.find_element(By.CSS_SELECTOR, ".flash").text == (
        "v2 is now the champion of breast_cancer; v1 is archived."
    )
    assert (status_of(1), status_of(2)) == ("archived", "champion")

    follow(browser, "Roll back to v1")
    assert browser.find_element(By.CSS_SELECTOR, ".outcome").text == (
        "v1 becomes the champion of breast_cancer again; v2 is archived."
    )
    screenshots(browser, "models-confirm")
    submit(browser)
    assert browser.find_element(By.CSS_SELECTOR, ".flash").text == (
        "v1 is the champion of breast_cancer again; v2 is archived."
    )
    assert (status_of(1), status_of(2)) == ("champion", "archived")


def test_a_rollback_with_no_earlier_champion_says_so(history, model_version, make_user, page, client):
    staff = make_user("root", is_staff=True)
    browser = log_in(page, "root")
    browser = page("/models/")
    assert "no earlier champion to return to" in browser.find_element(By.CSS_SELECTOR, ".staff-actions").text
    assert count(browser, "a[href='/models/breast_cancer/rollback/']") == 0

    browser = page("/models/breast_cancer/rollback/")
    assert browser.find_element(By.CSS_SELECTOR, "main .error").text == (
        "breast_cancer has no earlier champion to roll back to."
    )
    assert count(browser, "main form") == 0

    client.force_login(staff)
    for response in (
        client.get("/models/breast_cancer/rollback/"),
        client.post("/models/breast_cancer/rollback/"),
    ):
        assert response.status_code == 409
        assert b"no earlier champion to roll back to" in response.content
    assert status_of(1) == "champion"


def test_a_confirmation_that_no_longer_holds_is_refused_with_a_message(
    history, model_version, trained_breast_cancer, make_user, client
):
    client.force_login(make_user("root", is_staff=True))
    add_version(trained_breast_cancer)
    assert client.get("/models/breast_cancer/versions/2/promote/").status_code == 200

    response = client.post("/models/breast_cancer/versions/9/promote/")
    assert (response.status_code, "breast_cancer has no version 9.") == (400, response.context["error"])
    assert client.post(f"/models/breast_cancer/versions/{2**40}/promote/").status_code == 400
    response = client.post("/models/breast_cancer/versions/1/promote/")
    assert (response.status_code, response.context["error"]) == (
        409,
        "v1 is already the champion of breast_cancer.",
    )
    assert client.get("/models/nothing/rollback/").status_code == 404
    assert client.get("/models/nothing/versions/1/promote/").status_code == 404

    # The rollback page was read while v1 could come back; then v1 lost that (its record
    # of having been champion): the POST says so instead of failing.
    client.post("/models/breast_cancer/versions/2/promote/")
    assert client.get("/models/breast_cancer/rollback/").status_code == 200
    ModelVersion.objects.filter(model__name="breast_cancer", number=1).update(promoted_at=None)
    response = client.post("/models/breast_cancer/rollback/")
    assert response.status_code == 409
    assert (status_of(1), status_of(2)) == ("archived", "champion")


def test_others_see_no_buttons_and_cannot_promote_or_roll_back(
    history, three_versions, make_user, page, client
):
    ada = make_user("ada")
    browser = log_in(page, "ada")
    browser = page("/models/")
    assert count(browser, "a[href*='/promote/'], a[href*='/rollback/']") == 0
    assert "Promote" not in browser.page_source
    assert "Roll back" not in browser.page_source
    assert "Training runs" not in browser.page_source

    client.force_login(ada)
    for url in ("/models/breast_cancer/versions/3/promote/", "/models/breast_cancer/rollback/"):
        assert client.get(url).status_code == 403
        assert client.post(url).status_code == 403
    client.logout()
    assert client.post("/models/breast_cancer/rollback/").status_code == 302  # to the login page
    assert [status_of(n) for n in (1, 2, 3)] == ["archived", "champion", "rejected"]


def rejected_run(history, staff, *, params: dict):
    """A finished api run of breast_cancer whose v3 the gate rejected, asked for by `staff`."""
    run = history.training_create(model="breast_cancer", params=params, trigger="api", requested_by=staff.pk)
    for stage in ("loading data", "fitting", "evaluating", "storing artifact", "comparing with the champion"):
        history.training_stage(run.id, stage)
    history.training_finish(
        run.id,
        status=history.SUCCEEDED,
        version=3,
        decision="rejected",
        decision_reason=REJECTED,
        metrics=METRICS[3],
        champion_metrics=METRICS[2],
        training_rows=455,
        samples_used=0,
    )
    return run


def test_staff_see_the_training_runs_with_the_gates_decision(history, three_versions, make_user, page):
    staff = make_user("root", is_staff=True)
    older = rejected_run(history, staff, params={"C": 0.5})
    newer = history.training_create(model="breast_cancer", params={}, trigger="nightly")
    history.training_stage(newer.id, "loading data")
    history.training_finish(newer.id, status=history.FAILED, error="ValueError: the samples do not fit")

    browser = log_in(page, "root")
    browser = page("/models/")
    runs = browser.find_elements(By.CSS_SELECTOR, "#content li.run")
    assert [run.get_attribute("data-run") for run in runs] == [newer.id, older.id]  # most recent first
    assert "failed" in runs[0].text
    assert "nightly" in runs[0].text
    assert "ValueError: the samples do not fit" in runs[0].text
    summary = runs[1].find_element(By.TAG_NAME, "summary")
    assert "succeeded" in summary.text
    assert "api by root" in summary.text
    assert runs[1].find_element(By.CSS_SELECTOR, ".decision").text == "rejected"
    assert REJECTED in summary.text

    summary.click()  # open the run's details
    stages = [li.text.split(" +")[0] for li in runs[1].find_elements(By.CSS_SELECTOR, "ol.stages li")]
    assert stages == [
        *("loading data", "fitting", "evaluating", "storing artifact", "comparing with the champion"),
        "succeeded",
    ]
    compare = runs[1].find_element(By.CSS_SELECTOR, "table.compare").text
    assert "roc_auc 0.9000 0.9950 -0.0950" in compare
    assert "C=0.5" in runs[1].text
    assert "Duration" in runs[1].text


def test_screenshots_of_the_models_page(history, three_versions, make_user, page):
    from tests.shipped import register

    staff = make_user("root", is_staff=True)
    register("diabetes", sha256="0" * 64)
    rejected_run(history, staff, params={})
    browser = log_in(page, "root")
    browser = page("/models/")
    chart_of(browser, "versions-breast_cancer")
    chart_of(browser, "scatter-diabetes")
    browser.find_element(By.CSS_SELECTOR, "li.run summary").click()
    for path in screenshots(browser, "models"):
        assert path.stat().st_size > 10_000


def test_the_page_reads_the_same_number_of_rows_however_many_versions(
    history, three_versions, trained_breast_cancer, make_user, client
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(make_user("root", is_staff=True))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/models/").status_code == 200
        return len(captured)

    before = queries()
    for _ in range(5):
        add_version(trained_breast_cancer)
    assert queries() == before
