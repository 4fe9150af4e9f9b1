"""The sweeper re-publishes jobs whose task never reached Redis; a live worker then runs them."""

from datetime import timedelta

import pytest

from tests.conftest import wait_for_job
from workers.tasks import requeue_stale_jobs_task

pytestmark = pytest.mark.pipeline


def _orphan(history, user, model_version, valid_input, *, age_s: int):
    # A job recorded but never published, as when the web process dies in between.
    job = history.job_create(
        owner_id=user.pk,
        model="breast_cancer",
        version=model_version.number,
        artifact_sha256=model_version.artifact_sha256,
        sklearn_version=model_version.sklearn_version,
        input=valid_input,
    )
    history.PredictionJob.objects(id=job.id).update_one(
        set__created_at=history.now() - timedelta(seconds=age_s)
    )
    return job


def test_it_requeues_a_job_that_was_never_published(
    history, live_worker, user, api, model_version, valid_input, settings
):
    old = _orphan(history, user, model_version, valid_input, age_s=settings.STALE_JOB_SECONDS + 60)
    recent = _orphan(history, user, model_version, valid_input, age_s=1)

    assert requeue_stale_jobs_task() == 1
    assert wait_for_job(api, old.id)["status"] == "succeeded"
    assert history.job_get(recent.id).status == "queued"
    # Marked: the next sweep does not publish it a second time.
    assert requeue_stale_jobs_task() == 0


def test_it_requeues_a_job_whose_worker_died_while_running_it(
    history, live_worker, user, api, model_version, valid_input, settings
):
    job = _orphan(history, user, model_version, valid_input, age_s=settings.PREDICTION_TIME_LIMIT + 120)
    # As if a worker had claimed it and then been killed: running, long past the hard limit.
    history.PredictionJob.objects(id=job.id).update_one(
        set__status="running",
        set__attempts=1,
        set__started_at=history.now() - timedelta(seconds=settings.PREDICTION_TIME_LIMIT + 60),
    )
    just_started = _orphan(history, user, model_version, valid_input, age_s=5)
    history.PredictionJob.objects(id=just_started.id).update_one(
        set__status="running", set__attempts=1, set__started_at=history.now()
    )

    assert requeue_stale_jobs_task() == 1
    finished = wait_for_job(api, job.id)
    assert finished["status"] == "succeeded"
    assert finished["attempts"] == 2
    assert history.job_get(just_started.id).status == "running"


def test_it_cancels_jobs_past_their_deadline_that_no_worker_took(
    history, user, api, model_version, valid_input
):
    job = _orphan(history, user, model_version, valid_input, age_s=5)
    history.PredictionJob.objects(id=job.id).update_one(
        set__cancel_after=history.now() - timedelta(seconds=1)
    )
    requeue_stale_jobs_task()
    stored = api.get(f"/api/v1/predictions/{job.id}/").json()
    assert stored["status"] == "canceled"
    assert "Cancel-After" in stored["error"]
    assert stored["started_at"] is None
