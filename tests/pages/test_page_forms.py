"""Page form handling that needs no browser: refusals and who may do what, and the predict
form and batch CSV of a model with typed features (categories, booleans, missing values)."""

import csv
import io
import re
from importlib import resources

import pytest


def test_feedback_on_an_unfinished_job_is_refused_with_the_reason(client, history, user, stored_job):
    client.force_login(user)
    job = stored_job(status="queued")
    response = client.post(f"/history/{job.id}/feedback/", {"label": "benign"})
    assert response.status_code == 400
    assert "Only a succeeded prediction takes feedback" in response.content.decode()
    assert history.LabelledSample.objects.count() == 0


def test_feedback_with_an_unknown_label_is_refused(client, history, user, stored_job):
    client.force_login(user)
    job = stored_job(status="succeeded")
    response = client.post(f"/history/{job.id}/feedback/", {"label": "maybe"})
    assert response.status_code == 400
    assert "Must be one of" in response.content.decode()
    assert history.LabelledSample.objects.count() == 0


def test_another_users_job_page_and_feedback_are_404(client, make_user, stored_job):
    job = stored_job(status="succeeded")
    client.force_login(make_user("mallory"))
    assert client.get(f"/history/{job.id}/").status_code == 404
    assert client.post(f"/history/{job.id}/feedback/", {"label": "benign"}).status_code == 404
    assert client.post(f"/history/{job.id}/cancel/").status_code == 404


def test_the_history_csv_page_exports_only_the_callers_jobs(client, user, make_user, stored_job):
    mine = stored_job(status="succeeded")
    stored_job(owner=make_user("mallory"), status="succeeded")
    client.force_login(user)
    response = client.get("/history.csv")
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith(f'"{mine.id}",')


# ---------------------------------------------------------------- typed features

PENGUINS = (resources.files("palmerpenguins") / "data" / "penguins.csv").read_bytes()


def penguins_with_a_boolean() -> bytes:
    """penguins.csv and a boolean column, `tagged` (yes/no, some missing)."""
    rows = list(csv.reader(io.StringIO(PENGUINS.decode())))
    rows[0].append("tagged")
    for number, row in enumerate(rows[1:]):
        row.append("NA" if number % 17 == 0 else ("yes" if number % 2 else "no"))
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def penguin_model(db, history, make_user):
    """penguin-species v1, serving: species from the island (a category), the measures
    (numbers, some missing), sex (a category, some missing), year and tagged (a boolean)."""
    from predictor.datasets import dataset_upload
    from predictor.definitions import model_define
    from predictor.training import model_train_and_register

    owner = make_user("bea")
    version = dataset_upload(
        name="penguins", stream=io.BytesIO(penguins_with_a_boolean()), owner=owner, visibility="shared"
    )
    model_define(
        name="penguin-species",
        dataset_version=version,
        target="species",
        owner=owner,
        estimator="random_forest",
        params={"n_estimators": 20},
        visibility="shared",
    )
    return model_train_and_register("penguin-species")


ROW = {
    "island": "Dream",
    "bill_length_mm": "",
    "bill_depth_mm": "18.7",
    "flipper_length_mm": "181",
    "body_mass_g": "3750",
    "sex": "",
    "year": "2008",
    "tagged": "true",
}


def test_the_predict_form_has_an_input_for_each_type_of_feature(client, user, penguin_model):
    client.force_login(user)
    page = client.get("/predict/?model=penguin-species")
    html = page.content.decode()
    fields = {field["name"]: field for field in page.context["fields"]}
    assert {name: (f["type"], f["widget"], f["nullable"]) for name, f in fields.items()} == {
        "island": ("category", "select", False),
        "bill_length_mm": ("number", "number", True),
        "bill_depth_mm": ("number", "number", True),
        "flipper_length_mm": ("number", "number", True),
        "body_mass_g": ("number", "number", True),
        "sex": ("category", "select", True),
        "year": ("number", "number", False),
        "tagged": ("boolean", "select", True),
    }
    island = html[html.index('<select id="id_island"') :]
    island = island[: island.index("</select>")]
    assert re.findall(r"<option[^>]*>([^<]*)</option>", island) == ["Choose…", "Biscoe", "Dream", "Torgersen"]
    sex = html[html.index('<select id="id_sex"') :]
    assert re.findall(r"<option[^>]*>([^<]*)</option>", sex[: sex.index("</select>")]) == [
        "(none)",
        "female",
        "male",
    ]
    tagged = html[html.index('<select id="id_tagged"') :]
    assert re.findall(r"<option[^>]*>([^<]*)</option>", tagged[: tagged.index("</select>")]) == [
        "(none)",
        "true",
        "false",
    ]
    # The range of the training split.
    schema = {feature["name"]: feature for feature in penguin_model.feature_schema}
    bill = schema["bill_length_mm"]
    assert (
        fields["bill_length_mm"]["hint"]
        == f"{bill['min']:.4g} to {bill['max']:.4g} in training; may be left empty"
    )
    assert fields["year"]["hint"] == "2007 to 2009 in training"


def test_the_form_sends_each_value_as_its_type_and_empty_as_none(client, user, penguin_model, history):
    client.force_login(user)
    response = client.post("/predict/", {"model": "penguin-species", **ROW})
    assert response.status_code == 302, response.context and response.context["errors"]
    [job] = history.PredictionJob.objects()
    assert response["Location"] == f"/history/{job.id}/"
    assert history.job_get(job.id).input == {
        "island": "Dream",
        "bill_length_mm": None,
        "bill_depth_mm": 18.7,
        "flipper_length_mm": 181.0,
        "body_mass_g": 3750.0,
        "sex": None,
        "year": 2008.0,
        "tagged": True,
    }


@pytest.mark.parametrize(
    ("changed", "errors"),
    [
        (
            {"year": "", "island": ""},
            {"input.year": ["This feature is required."], "input.island": ["This feature is required."]},
        ),
        ({"body_mass_g": "heavy"}, {"input.body_mass_g": ["Enter a number."]}),
        ({"tagged": "maybe"}, {"input.tagged": ["Choose true or false."]}),
    ],
)
def test_the_form_refuses_what_its_feature_does_not_take(
    client, user, penguin_model, history, changed, errors
):
    client.force_login(user)
    response = client.post("/predict/", {"model": "penguin-species", **ROW, **changed})
    assert response.status_code == 400
    assert response.context["errors"] == errors
    for key, [message] in errors.items():
        name = key.removeprefix("input.")
        assert f'<div class="error" id="error_id_{name}">{message}</div>' in response.content.decode()
    assert history.PredictionJob.objects.count() == 0


def test_an_unseen_category_is_predicted_with_a_warning_on_the_job_page(client, user, penguin_model, history):
    client.force_login(user)
    response = client.post("/predict/", {"model": "penguin-species", **ROW, "island": "Atlantis"})
    assert response.status_code == 302
    [job] = history.PredictionJob.objects()
    [[warning]] = history.job_get(job.id).warnings
    assert warning["feature"] == "island"
    # As the worker writes it once the job has run.
    history.PredictionJob.objects(id=job.id).update_one(
        set__status="succeeded",
        set__output={
            "label": "Adelie",
            "probabilities": {"Adelie": 0.8, "Chinstrap": 0.1, "Gentoo": 0.1},
            "warnings": [warning],
        },
    )
    page = client.get(f"/history/{job.id}/").content.decode()
    assert '<ul class="warnings" aria-label="Warnings"><li><span class="feature">island</span>: ' in page
    assert "&#x27;Atlantis&#x27; was not seen in training" in page


def test_a_typed_batch_reads_categories_booleans_and_missing_cells(client, user, penguin_model, history):
    client.force_login(user)
    template = client.get("/predict/template.csv?model=penguin-species").content.decode()
    header, row = list(csv.reader(io.StringIO(template)))
    assert header == list(ROW)
    middle = {
        f["name"]: f"{(f['min'] + f['max']) / 2:.6g}" for f in penguin_model.feature_schema if "min" in f
    }
    assert dict(zip(header, row, strict=True)) == {
        **middle,
        "island": "Biscoe",
        "sex": "female",
        "year": "2008",
        "tagged": "true",
    }
    rows = f"{template}Atlantis,NA,18,190,3800,,2009,no\n"
    response = client.post("/predict/batch/", {"model": "penguin-species", "rows": rows})
    assert response.status_code == 302, response.context and response.context["batch_errors"]
    [job] = history.PredictionJob.objects()
    stored = history.job_get(job.id)
    assert stored.rows[1]["island"] == "Atlantis"
    assert stored.rows[1]["bill_length_mm"] is None
    assert stored.rows[1]["tagged"] is False
    assert stored.warnings[0] == []
    assert stored.warnings[1][0]["value"] == "Atlantis"

    refused = client.post(
        "/predict/batch/", {"model": "penguin-species", "rows": f"{template}Dream,1,2,3,4,male,,yes\n"}
    )
    assert refused.status_code == 400
    assert refused.context["batch_errors"] == ["Line 3, column year: May not be null; a number is required."]
