"""A MongoDB outage (a restart, a full disk: tests/chaos/test_mongo_faults.py) in the middle
of a task: the task tries again later rather than dropping its work."""

import subprocess
from types import SimpleNamespace

from predictor import history, webhooks
from workers.tasks import deliver_webhook_task


def test_a_webhook_whose_job_mongodb_could_not_read_is_tried_again(monkeypatch):
    tries = []

    def deliver(job_id, event, **options):
        tries.append((job_id, event, options["attempt"]))
        if len(tries) == 1:
            raise history.HistoryUnavailable("MongoDB could not do the work (1 InternalError)")
        return 204

    monkeypatch.setattr(webhooks, "deliver", deliver)

    # Run here (eagerly): a retry runs again at once, as the next delivery would.
    result = deliver_webhook_task.apply(args=["job-1", "completed"])

    assert tries == [("job-1", "completed", 1), ("job-1", "completed", 2)]
    assert result.get() == 204  # the retry delivered it


def test_a_predict_retry_is_told_which_attempt_and_peers_its_try_held(monkeypatch):
    from workers import tasks

    told = []

    def run(job_id, *, held, held_with, on_claimed, **_):
        told.append((held, held_with))
        if len(told) == 1:
            # This try claimed the job (its 3rd attempt) and a queued peer to run with it.
            on_claimed(
                [
                    SimpleNamespace(id=job_id, attempts=3, marked=True),
                    SimpleNamespace(id="peer-1", attempts=1, marked=True),
                ]
            )
            raise history.HistoryUnavailable("MongoDB could not do the work (1 InternalError)")
        if len(told) == 2:
            raise history.HistoryUnavailable("MongoDB could not do the work (1 InternalError)")
        return []

    monkeypatch.setattr(tasks, "prediction_run", run)

    tasks.predict_task.apply(args=["job-1"])  # eagerly: each retry runs at once

    # The second try claimed nothing (MongoDB failed before): it passes on what it was told.
    assert told == [(None, []), (3, ["peer-1"]), (3, ["peer-1"])]


def test_a_retry_takes_over_only_the_attempt_its_try_held(history, stored_job):
    # A try claimed the job, then MongoDB failed; while its retry waited, the job was
    # published again (a rescue, a sweep) and that delivery claimed it: attempt 2, in a live
    # process of this node. A retry of a try that held attempt 1, or that never claimed it,
    # leaves it to the run that holds it: both running it is how a job runs twice.
    holder = subprocess.Popen(["sleep", "60"])
    try:
        job = stored_job(status="running", attempts=2, started_at=history.now())
        history.PredictionJob.objects(id=job.id).update_one(
            set__claimed_by=job.id, set__worker="predict@here", set__worker_pid=holder.pid
        )
        assert history.job_claim(job.id, worker="predict@here") == (None, [])
        assert history.job_claim(job.id, worker="predict@here", held=1) == (None, [])
        assert history.job_get(job.id).attempts == 2
        # The retry of the try that claimed attempt 2 (that try has ended): it takes it over.
        claimed, _ = history.job_claim(job.id, worker="predict@here", held=2)
        assert claimed is not None
        assert claimed.attempts == 3
    finally:
        holder.kill()
        holder.wait()


def test_a_retry_of_a_first_delivery_that_held_the_job_in_redis_only_takes_over_no_claim(history, stored_job):
    # make chaos (MongoDB disk full) found it: a first delivery held the job in Redis, its
    # finish was refused, and its retry waited; meanwhile the sweeper's copy of the message
    # claimed the job in MongoDB, attempt 1. Told "attempt 1", the retry took that claim
    # over and ran the job beside it. The first delivery's attempt, as MongoDB knows it, is 0.
    from workers.tasks import held_attempt

    assert held_attempt(SimpleNamespace(attempts=1, marked=False), in_redis=True) == 0
    # Its running mark was written (attempt 1 is its own), or it claimed in MongoDB.
    assert held_attempt(SimpleNamespace(attempts=1, marked=True), in_redis=True) == 1
    assert held_attempt(SimpleNamespace(attempts=3, marked=True), in_redis=False) == 3

    holder = subprocess.Popen(["sleep", "60"])
    try:
        job = stored_job(status="running", attempts=1, started_at=history.now())
        history.PredictionJob.objects(id=job.id).update_one(
            set__claimed_by=job.id, set__worker="predict@here", set__worker_pid=holder.pid
        )
        assert history.job_claim(job.id, worker="predict@here", held=0) == (None, [])
        assert history.job_get(job.id).attempts == 1
    finally:
        holder.kill()
        holder.wait()


def test_predict_retries_outlast_an_outage_of_minutes():
    # A full disk waits for someone to free it. The task retries for about ten minutes
    # (each wait jittered up to its bound: half of it on average), and soon after MongoDB
    # is back (no wait longer than 30 s). Five retries, as before, spanned 31 s on average.
    from celery.utils.time import get_exponential_backoff_interval

    from workers import tasks

    bounds = [
        get_exponential_backoff_interval(
            tasks.PREDICT_RETRY_BACKOFF_S, retries, tasks.PREDICT_RETRY_BACKOFF_MAX_S, full_jitter=False
        )
        for retries in range(tasks.predict_task.max_retries)
    ]
    assert max(bounds) <= 30
    assert sum(bounds) / 2 >= 8 * 60
