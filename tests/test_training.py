"""Training runs through a live `train` worker: promotion gate, hot reload, nightly idempotency."""

import time

import pytest

from predictor.models import ModelVersion
from tests.clients import wait_for_job, wait_for_run

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]


def predict(client, valid_input, **extra) -> dict:
    response = client.post(
        "/api/v1/predictions/", {"model": "breast_cancer", "input": valid_input, **extra}, format="json"
    )
    assert response.status_code == 202, response.json()
    return wait_for_job(client, response.json()["id"])


def test_a_promoted_version_serves_the_next_prediction_without_a_restart(
    history, live_worker, train_worker, model_version, staff_api, api, valid_input
):
    assert predict(api, valid_input)["version"] == 1

    response = staff_api.post("/api/v1/trainings/", {"model": "breast_cancer"}, format="json")
    assert response.status_code == 202, response.json()
    assert response["Location"].endswith(f"/api/v1/trainings/{response.json()['id']}/")
    run = wait_for_run(staff_api, response.json()["id"])

    assert run["status"] == "succeeded", run
    assert run["decision"] == "promoted"
    assert run["version"] == 2
    assert "not worse than champion v1" in run["decision_reason"]
    assert run["champion_metrics"]["roc_auc"] == run["metrics"]["roc_auc"]
    stages = [step["stage"] for step in run["progress"]]
    assert stages[:4] == ["starting", "loading data", "fitting", "evaluating"]
    assert stages[-1] == "succeeded"
    statuses = {v.number: v.status for v in ModelVersion.objects.filter(model__name="breast_cancer")}
    assert statuses == {1: "archived", 2: "champion"}

    promoted_at = time.monotonic()
    job = predict(api, valid_input)
    assert job["status"] == "succeeded"
    assert job["version"] == 2
    print(f"promotion -> first prediction served by v2: {time.monotonic() - promoted_at:.2f} s")
    # A request may still pin the old version.
    assert predict(api, valid_input, version=1)["version"] == 1


def test_a_worse_challenger_is_rejected_and_the_champion_keeps_serving(
    history, live_worker, train_worker, model_version, staff_api, api, valid_input
):
    response = staff_api.post(
        "/api/v1/trainings/", {"model": "breast_cancer", "params": {"C": 1e-6}}, format="json"
    )
    run = wait_for_run(staff_api, response.json()["id"])

    assert run["status"] == "succeeded", run
    assert run["decision"] == "rejected"
    assert run["metrics"]["roc_auc"] < run["champion_metrics"]["roc_auc"]
    rejected = ModelVersion.objects.get(model__name="breast_cancer", number=2)
    assert rejected.status == "rejected"
    assert "worse than champion v1" in rejected.status_reason
    assert predict(api, valid_input)["version"] == 1


def test_the_nightly_task_fired_twice_trains_each_model_once(history, train_worker, model_version, staff_api):
    from predictor.shipped import shipped_ensure
    from workers.tasks import nightly_retrain_task, training_enqueue

    # As setup_platform does: every shipped model defined (breast_cancer is, by model_version).
    assert shipped_ensure(None) == ["iris", "wine", "diabetes"]
    first = nightly_retrain_task()
    second = nightly_retrain_task()
    assert (first, second) == (4, 0)
    runs = history.TrainingRun.objects(trigger="nightly")
    assert sorted(run.model for run in runs) == ["breast_cancer", "diabetes", "iris", "wine"]
    # The same task delivered a second time: still one version for that run.
    breast = runs.get(model="breast_cancer")
    training_enqueue(breast.id)
    for run in runs:
        assert wait_for_run(staff_api, run.id)["status"] == "succeeded"
    assert ModelVersion.objects.filter(model__name="breast_cancer").count() == 2
    assert ModelVersion.objects.filter(training_run_id=breast.id).count() == 1
    # Models that had no version get their first one as champion.
    for name in ("iris", "wine", "diabetes"):
        assert ModelVersion.objects.get(model__name=name).status == "champion"


def test_uploaded_samples_join_the_next_training(
    history, train_worker, model_version, staff_api, valid_input
):
    rows = [{**valid_input, "label": "malignant"}, {**valid_input, "label": "benign"}]
    response = staff_api.post("/api/v1/models/breast_cancer/samples/", {"rows": rows}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["stored"] == 2

    run = wait_for_run(
        staff_api,
        staff_api.post("/api/v1/trainings/", {"model": "breast_cancer"}, format="json").json()["id"],
    )
    assert run["samples_used"] == 2
    assert run["training_rows"] == model_version.training_rows + 2
    assert ModelVersion.objects.get(model__name="breast_cancer", number=2).samples_used == 2


def test_the_sweeper_takes_over_a_training_whose_worker_died(
    history, train_worker, model_version, staff_api, settings
):
    from datetime import timedelta

    from predictor.training import training_request
    from workers.tasks import requeue_stale_jobs_task

    run = training_request(model_name="breast_cancer", params={}, requested_by=1)
    # As if a train worker had claimed it and died: running, long past the hard time limit.
    history.TrainingRun.objects(id=run.id).update_one(
        set__status="running",
        set__attempts=1,
        set__started_at=history.now() - timedelta(seconds=settings.TRAINING_TIME_LIMIT + 60),
    )
    assert requeue_stale_jobs_task() == 1
    finished = wait_for_run(staff_api, run.id)
    assert finished["status"] == "succeeded", finished
    assert finished["attempts"] == 2
    assert requeue_stale_jobs_task() == 0
