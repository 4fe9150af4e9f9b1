"""The datasets pages and the new model form without JavaScript (Django's test client):
uploads as plain multipart posts, refusals naming the line, the two-step model form, who
may upload, create, delete and change, and what stays invisible to others (404)."""

import re
from importlib import resources

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from predictor.models import Dataset, MLModel
from tests.clients import model_builder_group

PENGUINS = (resources.files("palmerpenguins") / "data" / "penguins.csv").read_bytes()
RAGGED = b"a,b,c\n1,2,3\n4,5\n6,7,8\n"


@pytest.fixture
def builder(make_user, history):
    user = make_user("bea")
    user.groups.add(model_builder_group())
    return user


@pytest.fixture
def bea(builder) -> Client:
    """bea's browser (session login): a model builder."""
    client = Client()
    client.force_login(builder)
    return client


@pytest.fixture
def eve(make_user, history) -> Client:
    """eve's browser: signed in, no model builder."""
    client = Client()
    client.force_login(make_user("eve"))
    return client


def upload(client, name: str, data: bytes = PENGUINS, filename: str = "penguins.csv", **fields):
    file = SimpleUploadedFile(filename, data, content_type="text/csv")
    return client.post("/datasets/", {"name": name, "file": file, "visibility": "private", **fields})


def text(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_an_upload_is_a_plain_post_that_lands_on_the_datasets_page(bea):
    response = upload(bea, "penguins", visibility="shared")
    assert (response.status_code, response["Location"]) == (302, "/datasets/penguins/")
    page = bea.get("/datasets/penguins/")
    assert messages_of(page) == ["Uploaded penguins v1: 344 rows, 8 columns."]
    html = text(page)
    rows = dict(re.findall(r'<tr data-column="([^"]+)" data-type="([^"]+)">', html))
    assert rows == {
        "species": "category",
        "island": "category",
        "bill_length_mm": "number",
        "bill_depth_mm": "number",
        "flipper_length_mm": "number",
        "body_mass_g": "number",
        "sex": "category",
        "year": "number",
    }
    # A number's histogram: ten bins drawn as SVG; a category's most frequent values as bars.
    bill = html[html.index('data-column="bill_length_mm"') :]
    bill = bill[: bill.index("</tr>")]
    assert bill.count("<rect ") == 10
    assert "32.1 to 59.6, mean" in bill
    assert '2 <span class="muted">(0.6%)</span>' in bill
    species = html[html.index('data-column="species"') :]
    species = species[: species.index("</tr>")]
    assert 'data-value="Adelie"' in species
    assert "most frequent: Adelie (152)" in species
    # The preview's first rows and the version's short SHA-256.
    assert "Torgersen" in html[html.index("First rows") :]
    version = Dataset.objects.get(name="penguins").versions.get()
    assert f'<code title="{version.sha256}">{version.sha256[:12]}</code>' in html
    # In the list.
    listing = text(bea.get("/datasets/"))
    assert 'href="/datasets/penguins/"' in listing
    assert ">344<" in listing


def test_the_upload_script_is_answered_with_where_to_go(bea):
    file = SimpleUploadedFile("penguins.csv", PENGUINS, content_type="text/csv")
    response = bea.post(
        "/datasets/",
        {"name": "penguins", "file": file, "visibility": "private"},
        headers={"X-Requested-With": "XMLHttpRequest"},
    )
    assert response.status_code == 201
    assert response.json() == {"location": "/datasets/penguins/"}
    # The message waits for the page the script goes to.
    assert messages_of(bea.get("/datasets/penguins/")) == ["Uploaded penguins v1: 344 rows, 8 columns."]


def test_a_ragged_file_is_refused_in_the_form_naming_its_line(bea):
    response = upload(bea, "ragged", RAGGED, "ragged.csv")
    assert response.status_code == 400
    [error] = response.context["errors"]["file"]
    assert "line 3" in error.lower()
    assert error in text(response)
    assert 'id="id_file" name="file"' in text(response)
    assert 'value="ragged"' in text(response)  # the name is kept to send again
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "Bad Name"}, "name", "Lower-case letters, digits, - and _ only."),
        ({"name": "empty", "data": b""}, "file", "empty"),
        ({"name": "latin1", "data": "a,b\ncaf\xe9,1\n".encode("latin-1")}, "file", "UTF-8"),
    ],
)
def test_other_refusals_are_shown_by_their_field(bea, fields, field, message):
    data = fields.pop("data", PENGUINS)
    response = upload(bea, data=data, **fields)
    assert response.status_code == 400
    assert any(message in error for error in response.context["errors"][field]), response.context["errors"]
    assert not Dataset.objects.exists()


def test_a_name_another_user_took_is_refused(bea, make_user):
    other = Client()
    other_user = make_user("cid")
    other_user.groups.add(model_builder_group())
    other.force_login(other_user)
    assert upload(other, "penguins").status_code == 302
    response = upload(bea, "penguins")
    assert response.status_code == 400
    assert response.context["errors"]["name"] == ["This name is taken; choose another."]


def test_mongodb_down_is_said_plainly(bea, monkeypatch):
    from predictor import datasets
    from predictor.history import HistoryUnavailable

    def down(*args, **kwargs):
        raise HistoryUnavailable("no answer")

    monkeypatch.setattr(datasets, "_store", down)
    response = upload(bea, "penguins")
    assert response.status_code == 503
    assert "MongoDB is unavailable" in text(response)
    assert not Dataset.objects.exists()


def test_someone_who_is_no_model_builder_sees_no_upload_form_and_may_not_post(bea, eve):
    upload(bea, "penguins", visibility="shared")
    page = eve.get("/datasets/")
    assert page.status_code == 200
    assert 'href="/datasets/penguins/"' in text(page)  # shared: listed
    assert 'id="upload-form"' not in text(page)
    assert "New model" not in text(page)
    assert upload(eve, "mine").status_code == 403
    assert eve.get("/models/new/").status_code == 403
    # Read-only on the shared one: no delete.
    detail = eve.get("/datasets/penguins/")
    assert detail.status_code == 200
    assert "/datasets/penguins/delete/" not in text(detail)
    assert eve.get("/datasets/penguins/delete/").status_code == 403
    assert eve.post("/datasets/penguins/delete/").status_code == 403
    assert Dataset.objects.filter(name="penguins").exists()


def test_another_users_private_dataset_and_model_are_not_found(bea, eve, make_user):
    upload(bea, "secret")
    created = create_model(bea, "secret", name="secret-model")
    assert created.status_code == 302, created.context and created.context["errors"]
    for path in ("/datasets/secret/", "/datasets/secret/delete/", "/models/new/?dataset=secret"):
        assert eve.get(path).status_code in (404, 403), path
    assert eve.get("/datasets/secret/").status_code == 404
    assert eve.get("/datasets/secret/delete/").status_code == 404
    assert 'href="/datasets/secret/"' not in text(eve.get("/datasets/"))
    assert "secret-model" not in text(eve.get("/models/"))
    for path in ("/models/secret-model/train/", "/models/secret-model/rollback/"):
        assert eve.post(path).status_code == 404, path
    # A builder who is not the owner does not find it either.
    other = make_user("cid")
    other.groups.add(model_builder_group())
    client = Client()
    client.force_login(other)
    assert client.get("/models/new/?dataset=secret").status_code == 404
    assert client.post("/models/secret-model/train/").status_code == 404


def create_model(client, dataset: str, **fields):
    body = {"dataset": dataset, "name": "penguin-species", "target": "species", "task": "auto"}
    body.update(fields)
    if "features" not in body:
        body["features"] = [
            name
            for name in (
                "island",
                "bill_length_mm",
                "bill_depth_mm",
                "flipper_length_mm",
                "body_mass_g",
                "sex",
            )
            if name != body["target"]
        ]
    return client.post("/models/new/", body)


def test_the_model_form_takes_two_steps_without_javascript(bea, purged_queues, history):
    upload(bea, "penguins")
    first = bea.get("/models/new/")
    assert first.status_code == 200
    html = text(first)
    assert '<select id="id_dataset" name="dataset"' in html
    assert 'id="id_target"' not in html  # step 2 only once a dataset is chosen

    second = text(bea.get("/models/new/?dataset=penguins"))
    assert '<option value="penguins" selected>' in second
    # Each target says the task it gives, before anything is sent.
    assert '<option value="species">species (category: multiclass classification)</option>' in second
    assert '<option value="body_mass_g">body_mass_g (number: regression)</option>' in second
    assert '<option value="year">year (number: multiclass classification)</option>' in second
    # Every column is a feature by default (the target is left out on submit).
    assert second.count('name="features"') == 8
    assert second.count(" checked") == 8

    response = create_model(bea, "penguins", visibility="shared")
    assert (response.status_code, response["Location"]) == (302, "/models/#model-penguin-species")
    model = MLModel.objects.get(name="penguin-species")
    assert (model.task, model.target, model.owner.username, model.visibility) == (
        "multiclass_classification",
        "species",
        "bea",
        "shared",
    )
    assert [f["name"] for f in model.features] == [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
    ]
    page = bea.get("/models/")
    said = messages_of(page)
    assert said[0] == "penguin-species is defined on penguins v1: training queued."
    assert "task: multiclass_classification (auto, from the target column 'species')." in said
    [run] = history.TrainingRun.objects(model="penguin-species")
    assert (run.trigger, run.status) == ("create", "queued")
    # Its owner sees it with its definition, and may train it.
    html = text(page)
    assert "Learns <strong>species</strong> from 6 features of" in html
    assert 'href="/datasets/penguins/"' in html
    assert 'action="/models/penguin-species/train/"' in html


def test_the_inferred_task_follows_the_target_and_the_task_asked(bea):
    upload(bea, "penguins")
    page = bea.get("/models/new/?dataset=penguins")
    targets = page.context["tasks_data"]
    assert targets["species"]["words"] == {
        "auto": "multiclass classification",
        "classification": "multiclass classification",
        "regression": "regression",
    }
    assert targets["body_mass_g"]["words"]["auto"] == "regression"
    assert targets["body_mass_g"]["kinds"] == {
        "auto": "regression",
        "classification": "classification",
        "regression": "regression",
    }
    assert "json_script" not in text(page)
    assert '<script id="model-new-targets" type="application/json">' in text(page)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"target": ""}, "target", "This field may not be blank."),
        ({"target": "sex", "task": "regression"}, "task", "Regression needs a number target"),
        ({"features": []}, "features", "Choose at least one feature."),
        ({"name": "Bad Name"}, "name", "Lower-case letters"),
        ({"estimator": "ridge"}, "estimator", "Unknown for a classification model"),
    ],
)
def test_refusals_of_the_model_form_are_shown_by_their_field(bea, purged_queues, fields, field, message):
    upload(bea, "penguins")
    response = create_model(bea, "penguins", **fields)
    assert response.status_code == 400
    errors = response.context["errors"]
    assert any(message in error for error in errors.get(field, [])), errors
    assert not MLModel.objects.filter(name="penguin-species").exists()
    # What was chosen is kept.
    assert '<input type="hidden" name="dataset" value="penguins">' in text(response)


def test_a_model_name_taken_is_refused_on_the_name(bea, purged_queues):
    upload(bea, "penguins")
    assert create_model(bea, "penguins").status_code == 302
    response = create_model(bea, "penguins", target="island")
    assert response.status_code == 400
    assert response.context["errors"]["name"] == ["A model with this name exists; model names are unique."]


def test_a_dataset_a_model_learns_from_is_not_deleted_and_the_models_are_named(bea, purged_queues):
    upload(bea, "penguins")
    assert create_model(bea, "penguins").status_code == 302
    confirm = bea.get("/datasets/penguins/delete/")
    assert confirm.status_code == 200
    assert "Delete penguins</button>" in text(confirm)
    response = bea.post("/datasets/penguins/delete/")
    assert response.status_code == 409
    assert "<li>penguin-species (its definition)</li>" in text(response)
    assert Dataset.objects.filter(name="penguins").exists()


def test_its_owner_deletes_an_unused_dataset_after_a_confirmation(bea):
    upload(bea, "penguins")
    upload(bea, "penguins")  # v2
    page = text(bea.get("/datasets/penguins/"))
    assert 'href="/datasets/penguins/delete/"' in page
    assert page.count('<tr id="version-') == 2
    response = bea.post("/datasets/penguins/delete/")
    assert (response.status_code, response["Location"]) == (302, "/datasets/")
    assert messages_of(bea.get("/datasets/")) == ["Deleted the dataset penguins (2 versions)."]
    assert not Dataset.objects.exists()


def test_owners_see_the_controls_of_their_own_models_only(bea, eve, purged_queues, history, model_version):
    upload(bea, "penguins", visibility="shared")
    assert create_model(bea, "penguins", visibility="shared").status_code == 302
    # bea owns penguin-species, not the platform's breast_cancer.
    page = bea.get("/models/")
    sections = {section["model"].name: section for section in page.context["sections"]}
    assert sections["penguin-species"]["can_change"] is True
    assert sections["breast_cancer"]["can_change"] is False
    assert sections["penguin-species"]["owner"] == "bea"
    assert bea.post("/models/breast_cancer/train/").status_code == 403
    assert bea.get("/models/breast_cancer/rollback/").status_code == 403

    response = bea.post("/models/penguin-species/train/")
    assert (response.status_code, response["Location"]) == (302, "/models/#model-penguin-species")
    assert history.TrainingRun.objects(model="penguin-species").count() == 2
    # Not hers: eve sees the shared model without a control, and may not use one.
    html = text(eve.get("/models/"))
    assert "penguin-species" in html
    assert "/models/penguin-species/train/" not in html
    assert eve.post("/models/penguin-species/train/").status_code == 403
    assert eve.get("/models/penguin-species/rollback/").status_code == 403
    assert history.TrainingRun.objects(model="penguin-species").count() == 2
