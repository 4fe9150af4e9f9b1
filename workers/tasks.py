"""Celery tasks: thin adapters around predictor functions. They own queues, limits, retries."""

import logging
import random
from datetime import UTC, datetime, timedelta
from functools import cache, partial

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import connections
from django.utils import timezone

from myproject import logs, metrics
from predictor import history, webhooks
from predictor.batch_files import files_delete
from predictor.batches import batch_chunk_run
from predictor.predictions import prediction_run, prediction_run_claimed
from predictor.training import nightly_requests, stale_cutoff, training_execute

from . import claims, liveness
from .events import job_event, webhook_publish

logger = logging.getLogger(__name__)


# A lost MongoDB mid-task (a restart, a disk that filled and waits for someone to free
# it): the task retries, 2 s, 4 s, 8 s ... then every 30 s at most, jittered, so that it
# runs within half a minute of MongoDB's return; for about ten minutes, after which the
# sweeper publishes any job left unfinished again anyway (STALE_JOB_SECONDS). A retry
# takes the job over only as the attempt its try held (predictor/history/claims.py): it
# never runs a job beside a delivery the sweeper or the rescue published meanwhile.
PREDICT_RETRY_BACKOFF_S, PREDICT_RETRY_BACKOFF_MAX_S = 2, 30


@shared_task(
    bind=True,
    name="workers.tasks.predict_task",
    soft_time_limit=settings.PREDICTION_SOFT_TIME_LIMIT,
    time_limit=settings.PREDICTION_TIME_LIMIT,
    max_retries=40,
)
def predict_task(
    self,
    job_id: str,
    held: int | None = None,
    held_with: list[str] | None = None,
    job: dict | None = None,
    held_in_redis: bool = False,
    looked: bool = False,
) -> None:
    """`job`: the job as its submit wrote it (history.job_message), on the submit's own
    message: its first delivery claims it in Redis and reads nothing (workers/claims.py).
    `held`, `held_with`: set on a retry whose earlier try claimed the job as that attempt,
    with those peers (see predictor/history/claims.py): the retry may take the job over from
    that try only, and announces the ends that try wrote without knowing; `held_in_redis`
    when that try held it in Redis only. `looked`: a delivery that found a first delivery
    holding the job in Redis, and waited claims.look_again_s() before claiming it in MongoDB."""
    worker, redelivered = self.request.hostname, (self.request.delivery_info or {}).get("redelivered")
    holding: list = []

    def on_claimed(jobs) -> None:
        holding.append(jobs)
        # Those MongoDB records as claimed: a copy of their first message runs nothing.
        claims.mark_recorded([each.id for each in jobs if each.marked], worker=worker)

    run = {
        "on_event": job_event,
        "on_claimed": on_claimed,
        "batch_max_jobs": settings.PREDICTION_BATCH_MAX_JOBS,
        "batch_wait_s": settings.PREDICTION_BATCH_MAX_WAIT_MS / 1000,
        "failure_message": _failure_message,
        "reserve_peers": partial(claims.claim_peers, worker=worker, leader=job_id),
    }
    in_redis = False
    try:
        if job is not None and held is None and not redelivered and claims.fresh(job):
            claimed = claims.claim(job_id, worker=worker)
            if claimed in (claims.ENDED, claims.RECORDED):
                # Ended (a cancel, a copy of this message), or run by a delivery MongoDB records.
                logger.info("job %s is finished, gone or running elsewhere; nothing to run", job_id)
                return None
            if claimed == claims.OURS:
                in_redis = True
                first = history.ClaimedJob.from_message(job_id, job, started_at=history.now(), worker=worker)
                prediction_run_claimed(
                    first,
                    mark_after_s=settings.PREDICTION_RUNNING_MARK_MS / 1000,
                    # From then on MongoDB's claim holds it, for every other delivery.
                    on_marked=lambda each: claims.mark_recorded([each.id], worker=worker),
                    **run,
                )
                return None
        holder = claims.holder(job_id)
        if holder is not None and not looked and not holder.gone(worker):
            # A first delivery may still run it: look again when it has surely ended, died, or
            # written its claim to MongoDB.
            predict_task.apply_async(
                args=[job_id],
                kwargs={"held": held, "held_with": held_with, "held_in_redis": held_in_redis, "looked": True},
                task_id=job_id,
                countdown=claims.look_again_s(),
                retry=True,
            )
            return None
        prediction_run(
            job_id,
            worker=worker,
            held=held,
            held_with=held_with or [],
            held_in_redis=held_in_redis,
            # A first delivery that held it in Redis and is gone (a process here that died, or
            # one still holding it after look_again_s(), which never wrote its claim) counts.
            lost=1 if holder is not None else 0,
            requeue=prediction_enqueue,
            **run,
        )
    except SoftTimeLimitExceeded:
        pass  # every job of the run was failed with the reason; the task is over
    except history.HistoryUnavailable as exc:
        # The job stays unfinished until a try lands. The retry is told which attempt this
        # try held, and its peers (or what an earlier try held, when this one claimed nothing).
        countdown = get_exponential_backoff_interval(
            PREDICT_RETRY_BACKOFF_S,
            self.request.retries,
            maximum=PREDICT_RETRY_BACKOFF_MAX_S,
            full_jitter=True,
        )
        if holding:
            lead, *peers = holding[-1]
            held, held_with = held_attempt(lead, in_redis=in_redis), [peer.id for peer in peers]
        if in_redis:
            claims.release([job_id])  # the retry claims it in MongoDB
        kwargs = {"held": held, "held_with": held_with or [], "held_in_redis": in_redis or held_in_redis}
        raise self.retry(exc=exc, kwargs=kwargs, countdown=countdown) from exc
    return None


def held_attempt(lead: history.ClaimedJob, *, in_redis: bool) -> int:
    """The attempt MongoDB records for the job this try held, which its retry may take over:
    none (0) when the try held it in Redis only (a first delivery whose claim was never
    written). Its own count (1) would let the retry take over another delivery's claim, the
    first MongoDB records (attempt 1), and run the job beside it (make chaos, MongoDB disk
    full: the sweeper's copy of the message ran it while the retry waited)."""
    return lead.attempts if lead.marked or not in_redis else 0


def _failure_message(exc: Exception) -> str:
    if isinstance(exc, SoftTimeLimitExceeded):
        return f"timed out after {settings.PREDICTION_SOFT_TIME_LIMIT} s"
    return f"prediction failed: {exc}"


def webhooks_resend() -> int:
    """Publish the "completed" deliveries that stayed in the outbox (their job's or batch's
    worker could not reach Redis) once it has been over for WEBHOOK_OUTBOX_GRACE_S."""
    ended_before = history.now() - timedelta(seconds=settings.WEBHOOK_OUTBOX_GRACE_S)
    jobs = history.webhooks_unsent(ended_before=ended_before, limit=SWEEP_BATCH)
    for job in jobs:
        webhook_publish(job.id, "completed")
    batches = history.batches_webhook_unsent(ended_before=ended_before, limit=SWEEP_BATCH)
    for batch_id in batches:
        webhook_publish(batch_id, "completed", handed=history.batch_webhook_handed)
    return len(jobs) + len(batches)


@shared_task(
    bind=True,
    name="workers.tasks.deliver_webhook_task",
    # A receiver that failed, or a MongoDB that could not be read or take the attempt's
    # record (a restart, a full disk): the job's end is told later, not dropped. A retry
    # that sends again carries the same webhook-id, which receivers de-duplicate.
    autoretry_for=(webhooks.DeliveryFailed, history.HistoryUnavailable),
    # 5 s, 10 s, 20 s ... capped at 10 min, jittered: 8 tries span about half an hour.
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=7,
    soft_time_limit=settings.WEBHOOK_TIMEOUT_S * 3,
    time_limit=settings.WEBHOOK_TIMEOUT_S * 4,
)
def deliver_webhook_task(self, job_id: str, event: str, deferrals: int = 0) -> int | None:
    with logs.about_job(job_id):  # the delivery's lines name the job
        try:
            return webhooks.deliver(
                job_id,
                event,
                attempt=self.request.retries + 1,
                allow_private=settings.WEBHOOK_ALLOW_PRIVATE,
                timeout_s=settings.WEBHOOK_TIMEOUT_S,
                lanes=_webhook_lanes(),
                # The network wait holds no database connection: a notifier has many threads.
                before_sending=connections.close_all,
            )
        except webhooks.ReceiverSlow as slow:
            if deferrals >= settings.WEBHOOK_MAX_DEFERRALS:
                logger.error("webhook given up: %s, put off %d times", slow, deferrals)
                metrics.webhook_attempted(event, "given_up")
                reason = f"not sent: {slow}; put off {deferrals} times, then given up"
                try:
                    webhooks.deliver_given_up(job_id, event, attempt=self.request.retries + 1, reason=reason)
                except history.HistoryUnavailable:
                    pass  # the log above says it; the delivery log misses one line
                return None
            # Nothing was sent: the same attempt, later, holding no thread meanwhile.
            metrics.webhook_attempted(event, "deferred")
            logger.info("webhook put off: %s", slow)
            self.apply_async(
                args=[job_id, event],
                kwargs={"deferrals": deferrals + 1},
                countdown=random.uniform(5, 15),
                retries=self.request.retries,
                retry=True,
                # Back to the queue it came from (a deployment may route webhooks elsewhere).
                queue=(self.request.delivery_info or {}).get("routing_key"),
            )
            return None


@cache
def _webhook_lanes() -> webhooks.Lanes:
    return webhooks.Lanes(
        slots=settings.WEBHOOK_SLOW_SLOTS,
        slow_after_s=settings.WEBHOOK_SLOW_AFTER_S,
        slow_for_s=settings.WEBHOOK_SLOW_FOR_S,
    )


def prediction_enqueue(job_id: str, job: history.JobView | None = None) -> None:
    """Publish the job's task, with the task id equal to the job id; `job`: the job just
    written by its submit, which the message then carries (its first delivery reads nothing).

    Raises kombu's OperationalError when the broker stays unreachable past the
    publish retry policy (about two seconds).
    """
    kwargs = {"job": history.job_message(job)} if job is not None else {}
    # kwargsrepr: what logs and Flower show of the kwargs; Celery's own repr of the job's rows
    # would cost the submit more than the rest of its publishing.
    predict_task.apply_async(
        args=[job_id],
        kwargs=kwargs,
        task_id=job_id,
        retry=True,
        kwargsrepr="{'job': ...}" if kwargs else None,
    )


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
        (history.BatchChunk, settings.BATCH_CHUNK_TIME_LIMIT, chunk_enqueue),
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
    # A batch whose last chunk's run died between ending the chunk and ending the batch.
    for batch_id in history.batches_ended_unfinished(limit=SWEEP_BATCH):
        if (batch := history.batch_end_if_done(batch_id)) is not None:
            batch_ended(batch)
    _uploads_abandoned_remove(stamp)
    history.keys_purge_expired()
    return published


def _uploads_abandoned_remove(stamp: datetime) -> None:
    """Remove the files of uploads that never became a batch (their web process died mid-way)."""
    started_before = stamp - timedelta(seconds=settings.BATCH_UPLOAD_ABANDONED_S)
    for upload_id, named in history.uploads_abandoned(started_before=started_before, limit=SWEEP_BATCH):
        if named:  # a batch's: only its mark was left
            history.upload_unmark(upload_id)
            continue
        files_delete(upload=upload_id)
        logger.warning("upload %s abandoned mid-way: its files are removed", upload_id)


@shared_task(name="workers.tasks.rescue_orphaned_jobs_task")
def rescue_orphaned_jobs_task() -> int:
    """Beat, every ORPHAN_SWEEP_SECONDS: publish again the jobs and training runs of workers
    that died, and, when Redis has lost its data, every job and training run still queued
    (their messages went with it) without waiting for STALE_JOB_SECONDS (workers/liveness.py)."""
    rescued = liveness.rescue_orphans(prediction_enqueue, training_enqueue, chunk_enqueue)
    published = sum(len(ids) for ids in rescued.values())
    if resent := webhooks_resend():
        logger.warning("%d webhooks published from the outbox", resent)
    if liveness.broker_data_lost():
        stamp = history.now()
        for document, enqueue in (
            (history.PredictionJob, prediction_enqueue),
            (history.TrainingRun, training_enqueue),
            (history.BatchChunk, chunk_enqueue),
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
        worker=self.request.hostname,
    )
    if decision is None:
        run = history.training_get(run_id)
        if run is not None and run.status == history.RUNNING:
            # Held by a live process (predictor/history/trainings.py); if that process dies,
            # the rescue publishes the run again (workers/liveness.py). Look again anyway once
            # a run that old is surely dead; then it is either finished or taken over.
            raise self.retry(
                countdown=settings.TRAINING_TIME_LIMIT, max_retries=settings.TRAINING_MAX_ATTEMPTS
            )
    return decision


def training_enqueue(run_id: str) -> None:
    train_task.apply_async(args=[run_id], task_id=run_id, retry=True)


@shared_task(
    bind=True,
    name="workers.tasks.batch_chunk_task",
    soft_time_limit=settings.BATCH_CHUNK_SOFT_TIME_LIMIT,
    time_limit=settings.BATCH_CHUNK_TIME_LIMIT,
    autoretry_for=(history.HistoryUnavailable,),
    retry_backoff=2,
    retry_backoff_max=30,
    max_retries=40,
)
def batch_chunk_task(self, chunk_id: str) -> str:
    """One chunk of a batch file (predictor/batches.py). A try killed with its worker is
    delivered again (acks late, rejected on a lost worker) or published again by the rescue;
    the chunk's claim lets one run end it, and BATCH_CHUNK_MAX_ATTEMPTS tries at most."""
    return batch_chunk_run(
        chunk_id,
        worker=self.request.hostname,
        stale_before=history.now() - timedelta(seconds=settings.BATCH_CHUNK_TIME_LIMIT + 30),
        on_end=batch_ended,
    )


def chunk_enqueue(chunk_id: str) -> None:
    batch_chunk_task.apply_async(args=[chunk_id], task_id=chunk_id, retry=True)


def batch_enqueue(batch: history.BatchJob) -> None:
    """Publish a task per chunk, in file order (the first chunk first: it decides an early stop)."""
    with batch_chunk_task.app.producer_or_acquire() as producer:
        for index in range(batch.chunks_total):
            chunk_id = history.chunk_id(batch.id, index)
            batch_chunk_task.apply_async(args=[chunk_id], task_id=chunk_id, retry=True, producer=producer)


def batch_ended(batch: history.BatchJob) -> None:
    """A batch ended (all chunks, a cancel, an early stop): say so once, to its webhook too."""
    metrics.batch_finished(batch)
    if batch.webhook:
        webhook_publish(batch.id, "completed", handed=history.batch_webhook_handed)
    logger.info(
        "batch %s %s",
        batch.id,
        batch.status,
        extra={"batch_id": batch.id, "model": batch.model, "status": batch.status, "error": batch.error},
    )


@shared_task(name="workers.tasks.nightly_retrain_task")
def nightly_retrain_task() -> int:
    """Beat, every night: one training run per model, however often this fires that night."""
    runs = nightly_requests(timezone.localdate().isoformat())
    for run in runs:
        training_enqueue(run.id)
    return len(runs)
