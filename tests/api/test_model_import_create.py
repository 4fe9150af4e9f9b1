"""POST /api/v1/models/ as multipart with a model file: the file is checked before anything
is recorded; a good one defines the model and queues the import of its first version."""

import io
from importlib import resources

import joblib
import pandas as pd
import pytest
import skops.io as sio
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from predictor.models import MLModel
from tests.clients import client_for, model_builder_group

PENGUINS = (resources.files("palmerpenguins") / "data" / "penguins.csv").read_bytes()
NUMBERS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


@pytest.fixture(scope="module")
def notebook_model():
    """What a data scientist fits in a notebook: a DataFrame in, preprocessing inside."""
    frame = pd.read_csv(io.BytesIO(PENGUINS))
    frame = frame[frame["species"].notna()]
    X = frame[["island", *NUMBERS]]
    columns = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMBERS),
            ("island", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()), ["island"]),
        ]
    )
    return Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=2000))]).fit(
        X, frame["species"]
    )


@pytest.fixture
def builder_api(make_user, history, purged_queues):
    user = make_user("ines")
    user.groups.add(model_builder_group())
    client = client_for(user)
    response = client.post(
        "/api/v1/datasets/",
        {"name": "penguins", "file": SimpleUploadedFile("penguins.csv", PENGUINS)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return client


def post(client, data: bytes, **fields):
    body = {"name": "penguin-notebook", "dataset": "penguins", "target": "species", **fields}
    body["artifact"] = SimpleUploadedFile("model.skops", data)
    return client.post("/api/v1/models/", body, format="multipart")


def test_a_skops_file_defines_the_model_and_queues_its_import(builder_api, notebook_model, history):
    response = post(builder_api, sio.dumps(notebook_model))

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["training"]["trigger"] == "import"
    assert body["training"]["status"] == "queued"
    assert response["Location"].endswith(f"/api/v1/trainings/{body['training']['id']}/")
    assert body["model"]["name"] == "penguin-notebook"
    assert body["model"]["definition"]["dataset"]["name"] == "penguins"
    run = history.TrainingRun.objects.get(id=body["training"]["id"])
    assert run.artifact_sha256


@pytest.mark.parametrize("kind", ["joblib", "os.system"])
def test_a_refused_file_records_nothing(builder_api, notebook_model, history, kind):
    if kind == "joblib":
        buffer = io.BytesIO()
        joblib.dump(notebook_model, buffer)
        data, expected = buffer.getvalue(), "skops"
    else:
        import os

        from sklearn.preprocessing import FunctionTransformer

        data, expected = sio.dumps(make_pipeline(FunctionTransformer(func=os.system))), "system"
    response = post(builder_api, data)

    assert response.status_code == 400, response.content
    assert expected in response.json()["fields"]["artifact"][0]
    assert not MLModel.objects.filter(name="penguin-notebook").exists()
    assert history.TrainingRun.objects(model="penguin-notebook").count() == 0


def test_multipart_without_a_file_is_a_400_naming_it(builder_api):
    response = builder_api.post(
        "/api/v1/models/", {"name": "x", "dataset": "penguins", "target": "species"}, format="multipart"
    )
    assert response.status_code == 400
    assert "artifact" in response.json()["fields"]


def test_a_form_of_too_many_fields_is_a_400_in_the_error_shape(builder_api):
    # Django refuses over DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) itself, with an HTML page
    # unless the API's parser turns it into its own answer.
    fields = {
        "name": "x",
        "dataset": "penguins",
        "target": "species",
        "features": [f"f{i}" for i in range(1500)],
    }
    response = builder_api.post("/api/v1/models/", fields, format="multipart")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "parse_error"


@pytest.mark.parametrize("path", ["/api/v1/models/", "/api/v1/models/penguin-notebook/versions/"])
def test_a_file_over_model_import_max_bytes_is_a_413_naming_the_limit(
    builder_api, notebook_model, settings, history, path
):
    data = sio.dumps(notebook_model)
    if path.endswith("/versions/"):
        assert post(builder_api, data).status_code == 202  # the model, to import into
    runs = history.TrainingRun.objects.count()
    settings.MODEL_IMPORT_MAX_BYTES = len(data) - 1
    body = (
        {"name": "penguin-notebook", "dataset": "penguins", "target": "species"}
        if path == "/api/v1/models/"
        else {}
    )
    response = builder_api.post(
        path, {**body, "artifact": SimpleUploadedFile("m.skops", data)}, format="multipart"
    )

    assert response.status_code == 413, response.content
    assert response.json()["code"] == "too_large"
    assert "MODEL_IMPORT_MAX_BYTES" in response.json()["fields"]["artifact"][0]
    assert history.TrainingRun.objects.count() == runs
