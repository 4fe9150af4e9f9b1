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
ROWS = 1000  # ~0.1-0.2 s of work per job here, so kills land mid-task


def _kill_children(proc) -> int:
    children = psutil.Process(proc.pid).children(recursive=True)
    for child in children:
        child.send_signal(signal.SIGKILL)
    return len(children)


def test_jobs_survive_killed_workers(history, api, model_version, valid_input, settings, monkeypatch):
    rows = [valid_input] * ROWS
    ids = []
    for _ in range(JOBS):
        response = api.post("/api/v1/predictions/", {"model": "breast_cancer", "inputs": rows}, format="json")
        assert response.status_code == 202
        ids.append(response.json()["id"])

    # 1. Pool processes killed mid-task: Celery rejects the task back to the queue.
    worker = start_worker("predict", {})
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

    # A new worker, and the sweeper as beat runs it, with short thresholds so the test ends.
    settings.STALE_JOB_SECONDS = 1
    settings.PREDICTION_TIME_LIMIT = 1
    worker = start_worker("predict", {})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(2)
            requeue_stale_jobs_task()
            open_jobs = history.PredictionJob.objects(id__in=ids, status__in=["queued", "running"]).count()
            if open_jobs == 0:
                break
    finally:
        stop(worker)

    jobs = list(history.PredictionJob.objects(id__in=ids))
    statuses = {job.id: (job.status, job.error) for job in jobs}
    assert len(statuses) == JOBS
    unfinished = {job_id: s for job_id, s in statuses.items() if s[0] in ("queued", "running")}
    assert unfinished == {}
    assert all(status == "succeeded" or error for status, error in statuses.values())
    succeeded = sum(1 for status, _ in statuses.values() if status == "succeeded")
    retried = sum(1 for job in jobs if job.attempts > 1)
    print(
        f"chaos: {kills} pool processes killed + 1 worker; {succeeded}/{JOBS} succeeded, {retried} ran again"
    )
