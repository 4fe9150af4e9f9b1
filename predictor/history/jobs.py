"""Prediction jobs: the history clients poll."""

import uuid
from datetime import datetime

import mongoengine as me

from .base import QUEUED, RUNNING, STATUSES, now
from .base import guard as _guard


class PredictionJob(me.Document):
    id = me.StringField(primary_key=True)
    owner_id = me.IntField(required=True)
    model = me.StringField(required=True)
    version = me.IntField(required=True)
    artifact_sha256 = me.StringField(required=True)
    sklearn_version = me.StringField(required=True)
    input = me.DictField(required=True)
    output = me.DictField(null=True)
    error = me.StringField(null=True)
    status = me.StringField(choices=STATUSES, default=QUEUED)
    # Deliveries begun; a task that kills its worker every time ends failed, not looping.
    attempts = me.IntField(default=0)
    created_at = me.DateTimeField(required=True)
    started_at = me.DateTimeField(null=True)
    completed_at = me.DateTimeField(null=True)
    # Set when the sweeper re-publishes a job whose task never arrived (see jobs_stale).
    requeued_at = me.DateTimeField(null=True)

    meta = {
        "collection": "prediction_jobs",
        "indexes": [{"fields": ["owner_id", "-created_at", "-_id"]}, {"fields": ["status", "created_at"]}],
        "auto_create_index": False,
    }


@_guard
def job_create(
    *, owner_id: int, model: str, version: int, artifact_sha256: str, sklearn_version: str, input: dict
) -> PredictionJob:
    job = PredictionJob(
        id=str(uuid.uuid4()),
        owner_id=owner_id,
        model=model,
        version=version,
        artifact_sha256=artifact_sha256,
        sklearn_version=sklearn_version,
        input=input,
        status=QUEUED,
        created_at=now(),
    )
    job.save(force_insert=True)
    return job


@_guard
def job_delete(job_id: str) -> None:
    PredictionJob.objects(id=job_id).delete()


@_guard
def job_get(job_id: str, *, owner_id: int | None = None) -> PredictionJob | None:
    query = PredictionJob.objects(id=job_id)
    if owner_id is not None:
        query = query.filter(owner_id=owner_id)
    return query.first()


@_guard
def jobs_list(
    *, owner_id: int, limit: int, before: tuple[datetime, str] | None = None
) -> list[PredictionJob]:
    """The owner's jobs, newest first; `before` is the (created_at, id) of the last one seen."""
    query = PredictionJob.objects(owner_id=owner_id)
    if before is not None:
        created_at, job_id = before
        query = query.filter(me.Q(created_at__lt=created_at) | me.Q(created_at=created_at, id__lt=job_id))
    return list(query.order_by("-created_at", "-id").limit(limit))


@_guard
def jobs_requeue_stale(*, cutoff: datetime, limit: int) -> list[str]:
    """Mark and return jobs queued since before `cutoff` (and not re-queued since then).

    Their task was probably never published (the web process died in between) or was
    lost with Redis's data; a duplicate delivery is harmless, as only one run can finish.
    """
    stale = me.Q(status=QUEUED, created_at__lt=cutoff) & (
        me.Q(requeued_at=None) | me.Q(requeued_at__lt=cutoff)
    )
    ids = [job.id for job in PredictionJob.objects(stale).only("id").limit(limit)]
    if ids:
        PredictionJob.objects(id__in=ids).update(set__requeued_at=now())
    return ids


@_guard
def job_claim(job_id: str) -> PredictionJob | None:
    """Mark the job running and count the attempt; None when it is already finished or gone."""
    return PredictionJob.objects(id=job_id, status__in=[QUEUED, RUNNING]).modify(
        new=True, set__status=RUNNING, set__started_at=now(), inc__attempts=1
    )


@_guard
def job_finish(job_id: str, *, status: str, output: dict | None = None, error: str | None = None) -> None:
    # Only an unfinished job can finish, so a late duplicate never overwrites a result.
    PredictionJob.objects(id=job_id, status__in=[QUEUED, RUNNING]).update_one(
        set__status=status, set__output=output, set__error=error, set__completed_at=now()
    )
