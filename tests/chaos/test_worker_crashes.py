"""`make chaos`: workers killed (SIGKILL) in the middle of work; nothing accepted is lost.

Every job ends succeeded, or failed with a reason; none is left queued or running. Not
part of `make test`: it runs for a minute or two.
"""

import os
import signal
import time

import psutil
import pytest

from tests.conftest import start_worker, stop
from workers.tasks import requeue_stale_jobs_task

pytestmark = pytest.mark.chaos

JOBS = 40
ROWS = 1000


def _kill_children(proc) -> int:
    children = psutil.Process(proc.pid).children(recursive=True)
    for child in children:
        child.send_signal(signal.SIGKILL)
    return len(children)


def _recover(history, ids, settings) -> None:
    """A new worker, and the sweeper every two seconds as beat would run it (with short
    thresholds so the test ends), until no job of `ids` is left open or two minutes pass."""
    settings.STALE_JOB_SECONDS = 1
    settings.PREDICTION_TIME_LIMIT = 1
    worker = start_worker("predict", {})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(2)
            requeue_stale_jobs_task()
            if not history.PredictionJob.objects(id__in=ids, status__in=["queued", "running"]).count():
                break
    finally:
        stop(worker)


def test_jobs_survive_killed_workers(history, api, model_version, valid_input, settings, monkeypatch):
    rows = [valid_input] * ROWS
    ids = []
    for _ in range(JOBS):
        response = api.post("/api/v1/predictions/", {"model": "breast_cancer", "inputs": rows}, format="json")
        assert response.status_code == 202
        ids.append(response.json()["id"])

    # 1. Pool processes killed mid-task: Celery rejects the task back to the queue. Each
    # job is held half a second before it predicts, so the kills land mid-task.
    worker = start_worker("predict", {}, app="tests.chaos.slow_batches")
    kills, last_kill = 0, history.now()
    for _ in range(4):
        # Strike while a job is running, not while a fresh pool process is still importing.
        deadline = time.monotonic() + 30
        while not history.PredictionJob.objects(
            id__in=ids, status="running", started_at__gt=last_kill
        ).count():
            assert time.monotonic() < deadline, "no job started"
            time.sleep(0.01)
        kills += _kill_children(worker)
        last_kill = history.now()
    # 2. The whole worker killed: its unacknowledged task stays with Redis (visibility timeout).
    time.sleep(0.5)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()

    _recover(history, ids, settings)

    jobs = list(history.PredictionJob.objects(id__in=ids))
    statuses = {job.id: (job.status, job.error) for job in jobs}
    assert len(statuses) == JOBS
    unfinished = {job_id: s for job_id, s in statuses.items() if s[0] in ("queued", "running")}
    assert unfinished == {}
    assert all(status == "succeeded" or error for status, error in statuses.values())
    succeeded = sum(1 for status, _ in statuses.values() if status == "succeeded")
    retried = sum(1 for job in jobs if job.attempts > 1)
    assert retried, "no kill landed mid-task"
    print(
        f"chaos: {kills} pool processes killed + 1 worker; {succeeded}/{JOBS} succeeded, {retried} ran again"
    )


ONE_ROW_JOBS = 400


def _new_batch_in_flight(history, ids, seen: set) -> bool:
    """A batch not struck before is running: some job runs in another job's batch."""
    running = history.PredictionJob._get_collection().find(
        {"status": "running", "_id": {"$in": ids}}, {"claimed_by": 1}
    )
    leaders = {doc.get("claimed_by") for doc in running if doc.get("claimed_by") not in (None, doc["_id"])}
    fresh = leaders - seen
    seen |= leaders
    return bool(fresh)


def test_micro_batches_survive_killed_workers(history, user, model_version, valid_input, settings):
    from workers.tasks import prediction_enqueue

    # As a submit does (past the rate limit a test client would meet): job, then task.
    ids = []
    for _ in range(ONE_ROW_JOBS):
        job = history.job_create(
            owner_id=user.pk, model="breast_cancer", version=model_version.number,
            artifact_sha256=model_version.artifact_sha256, sklearn_version=model_version.sklearn_version,
            artifact_signature=model_version.artifact_signature, input=valid_input,
        )  # fmt: skip
        prediction_enqueue(job.id)
        ids.append(job.id)

    # 1. Pool processes killed while a micro-batch is in flight (held open half a second).
    worker = start_worker("predict", {}, app="tests.chaos.slow_batches")
    kills, struck = 0, set()
    for _ in range(3):
        deadline = time.monotonic() + 30
        while not _new_batch_in_flight(history, ids, struck):
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        else:
            kills += _kill_children(worker)
    # 2. The whole worker, with whatever it holds.
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()

    _recover(history, ids, settings)

    jobs = list(history.PredictionJob.objects(id__in=ids))
    assert len(jobs) == ONE_ROW_JOBS
    assert [job.id for job in jobs if job.status in ("queued", "running")] == []
    assert all(job.status == "succeeded" or job.error for job in jobs)
    batched = sum(1 for job in jobs if job.claimed_by != job.id)
    rerun = sum(1 for job in jobs if job.attempts > 1)
    assert kills, "no kill landed while a batch was in flight"
    assert rerun, "no batch was cut short"
    print(
        f"chaos (micro-batches): {kills} pool processes killed mid-batch + 1 worker; "
        f"{sum(job.status == 'succeeded' for job in jobs)}/{ONE_ROW_JOBS} succeeded, "
        f"{batched} ran in another job's batch, {rerun} ran again"
    )
