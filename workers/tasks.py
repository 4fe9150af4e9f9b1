"""Celery tasks: thin adapters around predictor functions. They own queues, limits, retries."""

from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from predictor import history
from predictor.services import prediction_run


@shared_task(
    name="workers.tasks.predict_task",
    soft_time_limit=settings.PREDICTION_SOFT_TIME_LIMIT,
    time_limit=settings.PREDICTION_TIME_LIMIT,
    # A lost MongoDB mid-task: retry, the job stays unfinished until one attempt lands.
    autoretry_for=(history.HistoryUnavailable,),
    retry_backoff=2,
    max_retries=5,
)
def predict_task(job_id: str) -> None:
    try:
        prediction_run(job_id)
    except SoftTimeLimitExceeded:
        error = f"timed out after {settings.PREDICTION_SOFT_TIME_LIMIT} s"
        history.job_finish(job_id, status=history.FAILED, error=error)


def prediction_enqueue(job_id: str) -> None:
    """Publish the job's task, with the task id equal to the job id.

    Raises kombu's OperationalError when the broker stays unreachable past the
    publish retry policy (about two seconds).
    """
    predict_task.apply_async(args=[job_id], task_id=job_id, retry=True)


# 500 per run keeps one sweep to a few seconds of publishing.
SWEEP_BATCH = 500


@shared_task(name="workers.tasks.requeue_stale_jobs_task")
def requeue_stale_jobs_task() -> int:
    """Re-publish queued jobs whose task never reached a worker (beat runs this)."""
    cutoff = history.now() - timedelta(seconds=settings.STALE_JOB_SECONDS)
    job_ids = history.jobs_requeue_stale(cutoff=cutoff, limit=SWEEP_BATCH)
    for job_id in job_ids:
        prediction_enqueue(job_id)
    return len(job_ids)
