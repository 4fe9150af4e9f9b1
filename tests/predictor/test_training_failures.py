"""A training run that cannot finish ends failed with its reason and registers nothing."""

import io
from datetime import timedelta
from importlib import resources

import pytest

from predictor import datasets, history, training
from predictor.definitions import model_define
from predictor.models import ModelVersion

PENGUINS = (resources.files("palmerpenguins") / "data" / "penguins.csv").read_bytes()


@pytest.fixture
def penguin_model(db, history, make_user):
    owner = make_user("ola", is_staff=True)
    version = datasets.dataset_upload(name="penguins-t", stream=io.BytesIO(PENGUINS), owner=owner)
    model, _ = model_define(
        name="penguin-t", dataset_version=version, target="species", owner=owner, estimator="random_forest"
    )
    return model


def run_now(model_name: str):
    run = history.training_create(model=model_name, params={}, trigger="api")
    stale = history.now() - timedelta(hours=1)
    return run, stale


def test_a_dataset_gone_from_the_store_fails_the_run_with_the_reason(penguin_model, history):
    from mongoengine.connection import get_db

    sha256 = penguin_model.dataset_version.sha256
    bucket = get_db()["datasets.files"]
    [stored] = list(bucket.find({"filename": sha256}))
    get_db()["datasets.chunks"].delete_many({"files_id": stored["_id"]})
    bucket.delete_one({"_id": stored["_id"]})
    run, stale = run_now("penguin-t")

    with pytest.raises(datasets.DatasetMissing):
        training.training_execute(run.id, stale_before=stale, max_attempts=3)

    finished = history.training_get(run.id)
    assert finished.status == "failed"
    assert "not in the store" in finished.error
    assert not ModelVersion.objects.filter(model__name="penguin-t").exists()


def test_a_labelled_sample_with_a_missing_value_joins_the_training(penguin_model, history):
    """Labelled samples are data found late: a sample row typed as the model's features
    trains with the dataset (its categories as text, a missing number imputed)."""
    history.samples_add(
        model="penguin-t",
        rows=[
            (
                {
                    "island": "Biscoe",
                    "bill_length_mm": None,
                    "bill_depth_mm": 15.0,
                    "flipper_length_mm": 215.0,
                    "body_mass_g": 5000.0,
                    "sex": "female",
                    "year": 2009.0,
                },
                "Gentoo",
            )
        ],
        source="upload",
        created_by=1,
    )
    run, stale = run_now("penguin-t")

    assert training.training_execute(run.id, stale_before=stale, max_attempts=3) == "first"
    version = ModelVersion.objects.get(model__name="penguin-t")
    assert version.samples_used == 1
    assert version.lineage["rows"]["samples"] == 1
    assert version.estimator == "random_forest"
    assert version.leaderboard == []


def test_training_params_are_checked_against_the_models_estimator(penguin_model):
    with pytest.raises(training.InvalidParams) as refused:
        training.training_request(model_name="penguin-t", params={"C": 2.0}, requested_by=1)
    assert "params.C" in refused.value.errors
    run = training.training_request(model_name="penguin-t", params={"n_estimators": 20}, requested_by=1)
    assert run.params == {"n_estimators": 20}
