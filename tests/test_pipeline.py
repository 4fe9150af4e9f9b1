"""End to end through HTTP, a real Redis, a real MongoDB-wire server and a live worker."""

import pytest
from rest_framework.test import APIClient

from tests.clients import wait_for_job

pytestmark = pytest.mark.pipeline


def test_a_new_user_gets_a_succeeded_prediction(db, history, live_worker, model_version, valid_input):
    client = APIClient()
    registered = client.post(
        "/register/",
        {
            "username": "carol",
            "email": "carol@example.com",
            "password": "tumour-Lab-2048",
            "password_confirm": "tumour-Lab-2048",
            "organization": "Clinic",
        },
        format="json",
    )
    assert registered.status_code == 201, registered.json()
    tokens = client.post("/login/", {"username": "carol", "password": "tumour-Lab-2048"}, format="json")
    assert tokens.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")

    submitted = client.post(
        "/api/v1/predictions/", {"model": "breast_cancer", "input": valid_input}, format="json"
    )
    assert submitted.status_code == 202, submitted.json()
    job = submitted.json()
    assert job["status"] == "queued"
    assert submitted["Location"].endswith(f"/api/v1/predictions/{job['id']}/")
    # Recorded in MongoDB before the answer, with the serving version.
    stored = history.PredictionJob.objects.get(id=job["id"])
    assert stored.version == model_version.number

    finished = wait_for_job(client, job["id"])
    assert finished["status"] == "succeeded", finished
    assert finished["version"] == 1
    assert finished["output"]["label"] == "malignant"
    probabilities = finished["output"]["probabilities"]
    assert set(probabilities) == {"benign", "malignant"}
    assert probabilities["malignant"] > 0.9
    assert finished["attempts"] == 1
    assert finished["metrics"]["total_s"] >= finished["metrics"]["predict_s"] >= 0
    # Which worker ran it: the live worker's Celery node name (tests/conftest.py).
    assert finished["metrics"]["worker"].startswith("predict-")
    assert finished["metrics"]["worker"].endswith("@localhost")
    assert finished["started_at"] <= finished["completed_at"]

    listed = client.get("/api/v1/predictions/").json()
    assert [item["id"] for item in listed["results"]] == [job["id"]]


def test_it_refuses_an_artifact_whose_bytes_were_tampered_with(
    db, history, live_worker, model_version, valid_input, api, settings
):
    from pathlib import Path

    from gridfs import GridFSBucket
    from mongoengine.connection import get_db

    from predictor.artifacts import artifact_save, artifact_sign
    from tests.shipped import shipped_train

    sha256 = artifact_save(shipped_train("breast_cancer", {"C": 0.5}).pipeline)
    # Both copies: a worker repairs a damaged cached copy from GridFS, never a damaged GridFS one.
    path = Path(settings.ARTIFACT_DIR) / f"{sha256}.artifact"
    path.write_bytes(path.read_bytes() + b"tampered")
    bucket = GridFSBucket(get_db(), bucket_name="artifacts")
    [stored] = bucket.find({"filename": sha256})
    bucket.delete(stored._id)
    bucket.upload_from_stream(sha256, path.read_bytes())
    model_version.artifact_sha256 = sha256
    # Signed as the registry signs: the signature vouches for the hash, the bytes must match it.
    model_version.artifact_signature = artifact_sign(sha256, sklearn_version=model_version.sklearn_version)
    model_version.save()

    submitted = api.post(
        "/api/v1/predictions/", {"model": "breast_cancer", "input": valid_input}, format="json"
    )
    finished = wait_for_job(api, submitted.json()["id"])
    assert finished["status"] == "failed"
    assert "does not match its SHA-256" in finished["error"]
    assert finished["output"] is None


def test_it_fails_the_job_with_a_clear_error_when_the_artifact_is_missing(
    db, history, live_worker, model_version, valid_input, user, api, settings
):
    from pathlib import Path

    from predictor.artifacts import ArtifactError, artifact_check_stored, artifact_sign

    # A version whose recorded hash no artifact has (in GridFS or on disk): the worker must refuse.
    with pytest.raises(ArtifactError, match="not in the artifact store"):
        artifact_check_stored("0" * 64)
    model_version.artifact_sha256 = "0" * 64
    model_version.artifact_signature = artifact_sign("0" * 64, sklearn_version=model_version.sklearn_version)
    model_version.save()
    submitted = api.post(
        "/api/v1/predictions/", {"model": "breast_cancer", "input": valid_input}, format="json"
    )
    assert submitted.status_code == 202
    finished = wait_for_job(api, submitted.json()["id"])
    assert finished["status"] == "failed"
    assert "not in the artifact store" in finished["error"]
    assert not (Path(settings.ARTIFACT_DIR) / f"{'0' * 64}.artifact").exists()


def test_a_job_that_lost_its_worker_too_often_ends_failed(live_worker, api, stored_job):
    from workers.tasks import prediction_enqueue

    # As if three deliveries had each killed their worker mid-task.
    job = stored_job(status="running", attempts=3)
    prediction_enqueue(job.id)
    finished = wait_for_job(api, job.id)
    assert finished["status"] == "failed"
    assert "gave up after 3 attempts" in finished["error"]
    assert finished["output"] is None
