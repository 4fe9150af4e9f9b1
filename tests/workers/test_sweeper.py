"""The sweeper re-publishes jobs whose task never reached Redis; a live worker then runs them."""

from datetime import timedelta

import pytest

from tests.clients import wait_for_job
from workers.tasks import requeue_stale_jobs_task

pytestmark = pytest.mark.pipeline


def test_it_requeues_a_job_that_was_never_published(
    history, live_worker, api, stored_job, settings, valid_input
):
    # Recorded but never published, as when the web process dies in between.
    old = stored_job(age_s=settings.STALE_JOB_SECONDS + 60)
    # A batch job: a worker's micro-batch takes one-row jobs only, so nothing but the
    # sweeper could start it.
    recent = stored_job(age_s=1, input=None, inputs=[valid_input])

    assert requeue_stale_jobs_task() == 1
    assert wait_for_job(api, old.id)["status"] == "succeeded"
    assert history.job_get(recent.id).status == "queued"
    # Marked: the next sweep does not publish it a second time.
    assert requeue_stale_jobs_task() == 0


def test_it_requeues_a_job_whose_worker_died_while_running_it(
    history, live_worker, api, stored_job, settings
):
    # As if a worker had claimed it and then been killed: running, long past the hard limit.
    job = stored_job(
        age_s=settings.PREDICTION_TIME_LIMIT + 120,
        status="running",
        attempts=1,
        started_at=history.now() - timedelta(seconds=settings.PREDICTION_TIME_LIMIT + 60),
    )
    just_started = stored_job(age_s=5, status="running", attempts=1, started_at=history.now())

    assert requeue_stale_jobs_task() == 1
    finished = wait_for_job(api, job.id)
    assert finished["status"] == "succeeded"
    assert finished["attempts"] == 2
    assert history.job_get(just_started.id).status == "running"


def test_it_cancels_jobs_past_their_deadline_that_no_worker_took(history, api, stored_job):
    job = stored_job(age_s=5, cancel_after=history.now() - timedelta(seconds=1))
    requeue_stale_jobs_task()
    stored = api.get(f"/api/v1/predictions/{job.id}/").json()
    assert stored["status"] == "canceled"
    assert "Cancel-After" in stored["error"]
    assert stored["started_at"] is None


def test_a_job_claimed_while_the_sweep_looks_is_neither_marked_nor_published_again(
    history, stored_job, monkeypatch
):
    # The sweep (and the rescue after Redis lost its data) reads which jobs are stale, then
    # marks them. A worker that claims one in between keeps it: marked after it started,
    # the job would look orphaned (requeued_at after started_at, predictor/history/claims.py)
    # and the message published again would run it a second time beside its first run.
    # tests/chaos/test_web_faults.py saw it: the rescue's first look after a start (it takes
    # Redis's data for lost) republished a job a worker had just claimed; it ran twice.
    from predictor.history import base

    job = stored_job(age_s=5)
    look = base._stale_ids

    def look_then_a_worker_claims(*args, **kwargs):
        ids = look(*args, **kwargs)
        claimed, _ = history.job_claim(job.id, worker="predict0@host")
        assert claimed is not None
        return ids

    monkeypatch.setattr(base, "_stale_ids", look_then_a_worker_claims)
    never = history.now() - timedelta(days=365)
    assert (
        history.requeue_stale(history.PredictionJob, cutoff=history.now(), running_cutoff=never, limit=10)
        == []
    )
    assert history.job_get(job.id).requeued_at is None
    # A second delivery of its task, on another worker, leaves it to the run it has.
    assert history.job_claim(job.id, worker="predict1@host") == (None, [])
