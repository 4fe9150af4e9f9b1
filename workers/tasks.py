"""Celery tasks: thin adapters around predictor functions. They own queues, limits, retries."""

import logging
from datetime import UTC, datetime, timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from myproject import logs, metrics
from predictor import history, webhooks
from predictor.services import prediction_run
from predictor.training import nightly_requests, stale_cutoff, training_execute

from . import liveness
from .events import job_finished_announce

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="workers.tasks.predict_task",
    soft_time_limit=settings.PREDICTION_SOFT_TIME_LIMIT,
    time_limit=settings.PREDICTION_TIME_LIMIT,
    # A lost MongoDB mid-task: retry, the job stays unfinished until one attempt lands.
    autoretry_for=(history.HistoryUnavailable,),
    retry_backoff=2,
    max_retries=5,
)
def predict_task(self, job_id: str) -> None:
    try:
        prediction_run(
            job_id,
            worker=self.request.hostname,
            retried=bool(self.request.retries),
            on_event=job_event,
            requeue=prediction_enqueue,
            batch_max_jobs=settings.PREDICTION_BATCH_MAX_JOBS,
            batch_wait_s=settings.PREDICTION_BATCH_MAX_WAIT_MS / 1000,
            failure_message=_failure_message,
        )
    except SoftTimeLimitExceeded:
        pass  # every job of the run was failed with the reason; the task is over


def _failure_message(exc: Exception) -> str:
    if isinstance(exc, SoftTimeLimitExceeded):
        return f"timed out after {settings.PREDICTION_SOFT_TIME_LIMIT} s"
    return f"prediction failed: {exc}"


def job_event(event: str, job) -> None:
    """A job started or finished (however: run, failed, canceled): count it, wake its
    waiters and call its webhook. Every finish comes here exactly once (a worker's run, a
    cancel, the sweeper's), so here it is counted."""
    if event == "completed":
        metrics.job_finished(job)
        job_finished_announce(job.id, job.finish_state)
    if job.webhook and event in (job.webhook_events_filter or webhooks.EVENTS):
        deliver_webhook_task.apply_async(args=[job.id, event], retry=True)


@shared_task(
    bind=True,
    name="workers.tasks.deliver_webhook_task",
    autoretry_for=(webhooks.DeliveryFailed,),
    # 5 s, 10 s, 20 s ... capped at 10 min, jittered: 8 tries span about half an hour.
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=7,
    soft_time_limit=settings.WEBHOOK_TIMEOUT_S * 3,
    time_limit=settings.WEBHOOK_TIMEOUT_S * 4,
)
def deliver_webhook_task(self, job_id: str, event: str) -> int | None:
    with logs.about_job(job_id):  # the delivery's lines name the job
        return webhooks.deliver(
            job_id,
            event,
            attempt=self.request.retries + 1,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE,
            timeout_s=settings.WEBHOOK_TIMEOUT_S,
        )


def prediction_enqueue(job_id: str) -> None:
    """Publish the job's task, with the task id equal to the job id.

    Raises kombu's OperationalError when the broker stays unreachable past the
    publish retry policy (about two seconds).
    """
    predict_task.apply_async(args=[job_id], task_id=job_id, retry=True)


# 500 per run keeps one sweep to a few seconds of publishing.
SWEEP_BATCH = 500
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@shared_task(name="workers.tasks.requeue_stale_jobs_task")
def requeue_stale_jobs_task() -> int:
    """Beat, every minute: cancel jobs past their deadline, re-publish jobs and training runs
    whose task never reached a worker or whose worker died, forget expired idempotency keys."""
    for job in history.jobs_cancel_expired(limit=SWEEP_BATCH):
        job_event("completed", job)
    stamp, published = history.now(), 0
    for document, hard_limit_s, enqueue in (
        (history.PredictionJob, settings.PREDICTION_TIME_LIMIT, prediction_enqueue),
        (history.TrainingRun, settings.TRAINING_TIME_LIMIT, training_enqueue),
    ):
        stale = history.requeue_stale(
            document,
            cutoff=stamp - timedelta(seconds=settings.STALE_JOB_SECONDS),
            # Past the hard time limit a run is over, one way or another.
            running_cutoff=stamp - timedelta(seconds=hard_limit_s + 30),
            limit=SWEEP_BATCH,
        )
        for item_id in stale:
            enqueue(item_id)
        published += len(stale)
    history.keys_purge_expired()
    return published


@shared_task(name="workers.tasks.rescue_orphaned_jobs_task")
def rescue_orphaned_jobs_task() -> int:
    """Beat, every ORPHAN_SWEEP_SECONDS: publish again the jobs of prediction workers that
    died, and, when Redis has lost its data, every job and training run still queued (their
    messages went with it) without waiting for STALE_JOB_SECONDS (workers/liveness.py)."""
    published = sum(len(ids) for ids in liveness.rescue_orphans(prediction_enqueue).values())
    if liveness.broker_data_lost():
        stamp = history.now()
        for document, enqueue in (
            (history.PredictionJob, prediction_enqueue),
            (history.TrainingRun, training_enqueue),
        ):
            # Queued until now; a running one is its worker's (or the rescue's) to judge.
            while ids := history.requeue_stale(
                document, cutoff=stamp, running_cutoff=_NEVER, limit=SWEEP_BATCH
            ):
                for item_id in ids:
                    enqueue(item_id)
                published += len(ids)
        logger.warning("Redis lost its data: %d queued jobs and training runs published again", published)
    return published


@shared_task(
    bind=True,
    name="workers.tasks.train_task",
    soft_time_limit=settings.TRAINING_SOFT_TIME_LIMIT,
    time_limit=settings.TRAINING_TIME_LIMIT,
    autoretry_for=(history.HistoryUnavailable,),
    retry_backoff=5,
    max_retries=5,
)
def train_task(self, run_id: str) -> str | None:
    decision = training_execute(
        run_id,
        stale_before=stale_cutoff(settings.TRAINING_TIME_LIMIT),
        max_attempts=settings.TRAINING_MAX_ATTEMPTS,
    )
    if decision is None:
        run = history.training_get(run_id)
        if run is not None and run.status == history.RUNNING:
            # Running elsewhere, or its worker died: look again once a run that old is
            # surely dead; then it is either finished or taken over.
            raise self.retry(
                countdown=settings.TRAINING_TIME_LIMIT, max_retries=settings.TRAINING_MAX_ATTEMPTS
            )
    return decision


def training_enqueue(run_id: str) -> None:
    train_task.apply_async(args=[run_id], task_id=run_id, retry=True)


@shared_task(name="workers.tasks.nightly_retrain_task")
def nightly_retrain_task() -> int:
    """Beat, every night: one training run per model, however often this fires that night."""
    runs = nightly_requests(timezone.localdate().isoformat())
    for run in runs:
        training_enqueue(run.id)
    return len(runs)
