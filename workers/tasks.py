"""Celery tasks: thin adapters around predictor functions. They own queues, limits, retries."""

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
