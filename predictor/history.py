"""The MongoDB history: the one module that owns the documents and their queries.

MongoDB is the source of truth for job state; nothing reads Celery's result backend.
"""

import functools
import uuid
from datetime import UTC, datetime

import mongoengine as me
from django.conf import settings
from pymongo.errors import ConnectionFailure
from pymongo.uri_parser import parse_uri

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = "queued", "running", "succeeded", "failed", "canceled"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED)
FINISHED = (SUCCEEDED, FAILED, CANCELED)


class HistoryUnavailable(Exception):
    """MongoDB could not be reached in time."""


def connect() -> None:
    me.disconnect()
    database = parse_uri(settings.MONGODB_URI).get("database") or "predictions"
    me.connect(
        db=database,
        host=settings.MONGODB_URI,
        connect=False,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=settings.MONGODB_TIMEOUT_MS,
        connectTimeoutMS=settings.MONGODB_TIMEOUT_MS,
    )


def _guard(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ConnectionFailure as exc:
            raise HistoryUnavailable(str(exc)) from exc

    return wrapper


def now() -> datetime:
    # MongoDB keeps milliseconds; trimming here keeps what we return equal to what we store.
    stamp = datetime.now(UTC)
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


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
def ensure_indexes() -> None:
    for document in (PredictionJob, TrainingRun, LabelledSample):
        document.ensure_indexes()


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


# --- Training runs -------------------------------------------------------------


class TrainingRun(me.Document):
    id = me.StringField(primary_key=True)
    model = me.StringField(required=True)
    params = me.DictField()
    trigger = me.StringField(choices=("api", "nightly"), required=True)
    requested_by = me.IntField(null=True)
    # "<model>:<local date>" for nightly runs; unique, so a night gets one run per model.
    nightly_key = me.StringField(null=True)
    status = me.StringField(choices=(QUEUED, RUNNING, SUCCEEDED, FAILED), default=QUEUED)
    stage = me.StringField(default="queued")
    progress = me.ListField(me.DictField())
    attempts = me.IntField(default=0)
    version = me.IntField(null=True)
    decision = me.StringField(null=True)  # promoted | rejected | first
    decision_reason = me.StringField(null=True)
    metrics = me.DictField(null=True)
    champion_metrics = me.DictField(null=True)
    training_rows = me.IntField(null=True)
    samples_used = me.IntField(null=True)
    error = me.StringField(null=True)
    created_at = me.DateTimeField(required=True)
    started_at = me.DateTimeField(null=True)
    completed_at = me.DateTimeField(null=True)

    meta = {
        "collection": "training_runs",
        "indexes": [
            {
                "fields": ["nightly_key"],
                "unique": True,
                "partialFilterExpression": {"nightly_key": {"$type": "string"}},
            },
            {"fields": ["model", "-created_at"]},
            {"fields": ["-created_at"]},
        ],
        "auto_create_index": False,
    }


class DuplicateRun(Exception):
    """A nightly run for this model and night exists already."""


@_guard
def training_create(*, model: str, params: dict, trigger: str, requested_by: int | None = None,
                    nightly_key: str | None = None) -> TrainingRun:  # fmt: skip
    run = TrainingRun(
        id=str(uuid.uuid4()), model=model, params=params, trigger=trigger, requested_by=requested_by,
        nightly_key=nightly_key, created_at=now(),
    )  # fmt: skip
    try:
        run.save(force_insert=True)
    except me.NotUniqueError:
        raise DuplicateRun(nightly_key) from None
    return run


@_guard
def training_get(run_id: str) -> TrainingRun | None:
    return TrainingRun.objects(id=run_id).first()


@_guard
def trainings_list(*, model: str | None = None, limit: int = 50) -> list[TrainingRun]:
    query = TrainingRun.objects(model=model) if model else TrainingRun.objects
    return list(query.order_by("-created_at").limit(limit))


@_guard
def training_claim(run_id: str, *, stale_before: datetime) -> TrainingRun | None:
    """Mark the run running. A run already running is taken over only when its last start
    is older than `stale_before` (its worker is surely gone); None otherwise."""
    stamp = now()
    claimable = me.Q(status=QUEUED) | me.Q(status=RUNNING, started_at__lt=stale_before)
    return TrainingRun.objects(me.Q(id=run_id) & claimable).modify(
        new=True, set__status=RUNNING, set__started_at=stamp, set__stage="starting", inc__attempts=1,
        push__progress={"stage": "starting", "at": stamp},
    )  # fmt: skip


@_guard
def training_stage(run_id: str, stage: str) -> None:
    TrainingRun.objects(id=run_id).update_one(set__stage=stage, push__progress={"stage": stage, "at": now()})


@_guard
def training_finish(run_id: str, *, status: str, **fields) -> None:
    updates = {f"set__{name}": value for name, value in fields.items()}
    TrainingRun.objects(id=run_id, status__in=[QUEUED, RUNNING]).update_one(
        set__status=status, set__stage=status, set__completed_at=now(),
        push__progress={"stage": status, "at": now()}, **updates,
    )  # fmt: skip


# --- Labelled samples ----------------------------------------------------------


class LabelledSample(me.Document):
    """A row with its true label (or value), added to the model's training data."""

    model = me.StringField(required=True)
    features = me.DictField(required=True)
    label = me.DynamicField(required=True)
    source = me.StringField(choices=("upload", "feedback"), required=True)
    batch_id = me.StringField(required=True)
    job_id = me.StringField(null=True)
    created_by = me.IntField(null=True)
    created_at = me.DateTimeField(required=True)

    meta = {
        "collection": "labelled_samples",
        "indexes": [{"fields": ["model", "created_at"]}, {"fields": ["batch_id"]}],
        "auto_create_index": False,
    }


@_guard
def samples_add(*, model: str, rows: list[tuple[dict, object]], source: str, created_by: int | None,
                job_id: str | None = None) -> str:  # fmt: skip
    """Store every row or none: a failure half-way removes the rows already written."""
    batch_id, stamp = str(uuid.uuid4()), now()
    documents = [
        LabelledSample(model=model, features=features, label=label, source=source, batch_id=batch_id,
                       job_id=job_id, created_by=created_by, created_at=stamp)
        for features, label in rows
    ]  # fmt: skip
    try:
        LabelledSample.objects.insert(documents, load_bulk=False)
    except Exception:
        LabelledSample.objects(batch_id=batch_id).delete()
        raise
    return batch_id


@_guard
def samples_for(model: str) -> list[LabelledSample]:
    return list(LabelledSample.objects(model=model).order_by("created_at"))
