"""Labelled samples for a user's own model: typed like its features (categories as text,
booleans, missing values), from JSON or CSV, by its owner."""

import io
from importlib import resources

import pytest

from predictor import datasets
from predictor.definitions import model_define
from predictor.training import model_train_and_register
from tests.clients import assert_error, client_for

PENGUINS = (resources.files("palmerpenguins") / "data" / "penguins.csv").read_bytes()


@pytest.fixture
def owner(make_user):
    return make_user("oli")


@pytest.fixture
def trained(db, history, owner):
    version = datasets.dataset_upload(
        name="penguins-s", stream=io.BytesIO(PENGUINS), owner=owner, visibility="shared"
    )
    model_define(
        name="penguin-s",
        dataset_version=version,
        target="species",
        owner=owner,
        estimator="logistic_regression",
        visibility="shared",
    )
    return model_train_and_register("penguin-s")


def test_the_owner_uploads_csv_samples_typed_by_the_schema(trained, owner, history):
    csv = (
        "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year,label\n"
        "Biscoe,NA,15.0,215,5000,female,2009,Gentoo\n"
        "Dream,39.0,18.0,190,3600,,2008,Adelie\n"
    )
    response = client_for(owner).post("/api/v1/models/penguin-s/samples/", csv, content_type="text/csv")

    assert response.status_code == 201, response.json()
    assert response.json()["stored"] == 2
    first, second = history.samples_for("penguin-s")
    assert first.features["island"] == "Biscoe"
    assert first.features["bill_length_mm"] is None
    assert first.features["flipper_length_mm"] == 215.0
    assert second.features["sex"] is None
    assert first.label == "Gentoo"


def test_a_sample_of_the_wrong_type_is_refused_by_line_and_column(trained, owner, history):
    csv = (
        "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year,label\n"
        "Biscoe,long,15.0,215,5000,female,NA,Penguin\n"
    )
    response = client_for(owner).post("/api/v1/models/penguin-s/samples/", csv, content_type="text/csv")

    fields = assert_error(response, 400, "invalid", keys=("code", "message", "fields"))["fields"]
    assert "A number is required" in fields["line 2.bill_length_mm"][0]
    assert "May not be null" in fields["line 2.year"][0]  # training saw every year
    assert "Must be one of" in fields["line 2.label"][0]
    assert history.samples_for("penguin-s") == []


def test_only_the_owner_and_staff_add_samples_to_a_shared_model(trained, api, staff_api):
    row = {
        "island": "Dream",
        "bill_length_mm": 39.0,
        "bill_depth_mm": 18.0,
        "flipper_length_mm": 190.0,
        "body_mass_g": 3600.0,
        "sex": "male",
        "year": 2008,
        "label": "Adelie",
    }
    refused = api.post("/api/v1/models/penguin-s/samples/", {"rows": [row]}, format="json")
    assert_error(refused, 403, "permission_denied")
    assert (
        staff_api.post("/api/v1/models/penguin-s/samples/", {"rows": [row]}, format="json").status_code == 201
    )
