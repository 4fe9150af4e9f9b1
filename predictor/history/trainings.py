"""Training runs: status, stages and results of each training."""

import uuid
from datetime import datetime

import mongoengine as me

from .base import FAILED, QUEUED, RUNNING, SUCCEEDED, now
from .base import guard as _guard


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
    # Set when the sweeper publishes the run again (its task was lost or its worker died).
    requeued_at = me.DateTimeField(null=True)

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
