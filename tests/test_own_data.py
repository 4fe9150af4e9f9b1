"""A team's own table, end to end through the real pipeline: a raw CSV export (categories,
NA, free text) uploaded, a model defined on it, trained by a live train worker, served by a
live predict worker with categories, nulls and an unseen category, given feedback, and
retrained at night on that feedback."""

from importlib import resources

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictor.models import ModelVersion
from tests.clients import client_for, model_builder_group, wait_for_job, wait_for_run

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]

RAW = (resources.files("palmerpenguins") / "data" / "penguins-raw.csv").read_bytes()
FEATURES = [
    "Island",
    "Clutch Completion",
    "Culmen Length (mm)",
    "Culmen Depth (mm)",
    "Flipper Length (mm)",
    "Body Mass (g)",
    "Sex",
    "Delta 15 N (o/oo)",
]
ROW = {
    "Island": "Torgersen",
    "Clutch Completion": True,
    "Culmen Length (mm)": 39.1,
    "Culmen Depth (mm)": 18.7,
    "Flipper Length (mm)": 181,
    "Body Mass (g)": 3750,
    "Sex": "MALE",
    "Delta 15 N (o/oo)": None,
}
ADELIE = "Adelie Penguin (Pygoscelis adeliae)"


@pytest.fixture
def owner_api(make_user, history):
    user = make_user("dana")
    user.groups.add(model_builder_group())
    return client_for(user)


def test_a_raw_export_becomes_a_served_model_that_learns_from_feedback(
    owner_api, api, live_worker, train_worker, history
):
    upload = owner_api.post(
        "/api/v1/datasets/",
        {
            "name": "penguins-raw",
            "file": SimpleUploadedFile("penguins_lter.csv", RAW),
            "visibility": "shared",
        },
        format="multipart",
    )
    assert upload.status_code == 201, upload.json()
    created = owner_api.post(
        "/api/v1/models/",
        {
            "name": "penguin-species",
            "dataset": "penguins-raw",
            "target": "Species",
            "features": FEATURES,
            "visibility": "shared",
        },
        format="json",
    )
    assert created.status_code == 202, created.json()
    run = wait_for_run(owner_api, created.json()["training"]["id"], timeout=120)
    assert run["status"] == "succeeded", run
    assert run["decision"] == "first"
    stages = [step["stage"] for step in run["progress"]]
    assert "cross-validating candidates" in stages

    [version] = owner_api.get("/api/v1/models/penguin-species/versions/").json()["results"]
    assert version["status"] == "champion"
    assert version["leaderboard"][0]["estimator"] == version["estimator"]
    assert len(version["leaderboard"]) == 3
    assert version["leaderboard"][0]["cv_score"] > 0.9
    lineage = version["lineage"]
    assert lineage["dataset"]["name"] == "penguins-raw"
    assert lineage["dataset"]["version"] == 1
    assert lineage["rows"] == {"dataset": version["training_rows"], "samples": 0, "without_target": 0}
    schema = {feature["name"]: feature for feature in version["input_schema"]}
    assert schema["Island"]["categories"] == ["Biscoe", "Dream", "Torgersen"]
    assert schema["Sex"]["nullable"] is True
    assert schema["Clutch Completion"]["type"] == "boolean"
    assert version["library_versions"]["pandas"]

    # Another user predicts with the shared model: categories as strings, a null, a boolean.
    answer = api.post(
        "/api/v1/predictions/",
        {"model": "penguin-species", "input": ROW},
        format="json",
        HTTP_PREFER="wait=20",
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["output"]["label"] == ADELIE
    assert "warnings" not in answer.json()["output"]

    unseen = {**ROW, "Island": "Atlantis", "Sex": None}
    job = wait_for_job(
        api,
        api.post("/api/v1/predictions/", {"model": "penguin-species", "input": unseen}, format="json").json()[
            "id"
        ],
    )
    assert job["status"] == "succeeded", job
    assert job["output"]["label"] in schema_labels(version)
    [warning] = job["output"]["warnings"]
    assert warning["feature"] == "Island"
    assert warning["value"] == "Atlantis"

    batch = api.post(
        "/api/v1/predictions/",
        {"model": "penguin-species", "inputs": [ROW, unseen, {**ROW, "Culmen Length (mm)": None}]},
        format="json",
    )
    done = wait_for_job(api, batch.json()["id"])
    assert [len(output.get("warnings", [])) for output in done["output"]] == [0, 1, 0]

    bad = api.post(
        "/api/v1/predictions/",
        {"model": "penguin-species", "input": {**ROW, "Island": 3, "Clutch Completion": "yes", "Sex": None}},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"input.Island", "input.Clutch Completion"}

    # Feedback on the served job feeds the next nightly training.
    feedback = api.post(f"/api/v1/predictions/{job['id']}/feedback/", {"label": ADELIE}, format="json")
    assert feedback.status_code == 201, feedback.json()

    from workers.tasks import nightly_retrain_task

    assert nightly_retrain_task() == 1
    nightly = history.TrainingRun.objects.get(trigger="nightly", model="penguin-species")
    night = wait_for_run(owner_api, nightly.id, timeout=120)
    assert night["status"] == "succeeded", night
    assert night["samples_used"] == 1
    assert night["decision"] in ("promoted", "rejected")
    assert night["champion_metrics"] is not None
    second = ModelVersion.objects.get(model__name="penguin-species", number=2)
    assert second.lineage["rows"]["samples"] == 1
    assert second.status in ("champion", "rejected")


def schema_labels(version) -> list[str]:
    return version["classes"]
