"""Training runs: status, stages and results of each training.

Who holds a running run: `worker` / `worker_pid`, the Celery node and the pool process that
claimed it last (its task's id is the run's id, so there is no other claimant to name). A
delivery may claim a run that is queued; or running and declared orphaned (`requeued_at`
after `started_at`: its trainer stopped answering, workers/liveness.py, or the sweeper found
it past the hard time limit); or running, last started longer ago than the hard time limit;
or running in a process of this same node that is gone (Celery delivers a task again when
the pool process running it died), or that is this very process (its earlier try ended).
A second message for a run that a live process trains (a re-publish while the first message
still waited, a rescue's message racing Celery's own redelivery) finds it held and leaves
it: no run trains twice at once, so none is promoted twice.
"""

import os
import uuid
from datetime import datetime

import mongoengine as me

from myproject.processes import process_alive

from .base import FAILED, QUEUED, RUNNING, SUCCEEDED, guard, now, orphans_mark, workers_running


class TrainingRun(me.Document):
    id = me.StringField(primary_key=True)
    model = me.StringField(required=True)
    params = me.DictField()
    # "create": the first training of a model just defined (POST /api/v1/models/).
    trigger = me.StringField(choices=("api", "nightly", "create", "import"), required=True)
    # An import (predictor/imports.py): the uploaded file's SHA-256 in the artifact store.
    artifact_sha256 = me.StringField(null=True)
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
    # Set when the sweeper or the rescue publishes the run again (its task was lost or its
    # worker died): after `started_at`, the run is orphaned and any delivery may claim it.
    requeued_at = me.DateTimeField(null=True)
    # The Celery worker that claimed it last (node name, e.g. train@host) and its pool
    # process there (the module's docstring says what they decide).
    worker = me.StringField(null=True)
    worker_pid = me.IntField(null=True)

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


@guard
def training_create(
    *,
    model: str,
    params: dict,
    trigger: str,
    requested_by: int | None = None,
    nightly_key: str | None = None,
    artifact_sha256: str | None = None,
) -> TrainingRun:
    run = TrainingRun(
        id=str(uuid.uuid4()),
        artifact_sha256=artifact_sha256,
        model=model,
        params=params,
        trigger=trigger,
        requested_by=requested_by,
        nightly_key=nightly_key,
        created_at=now(),
    )
    try:
        run.save(force_insert=True)
    except me.NotUniqueError:
        raise DuplicateRun(nightly_key) from None
    return run


@guard
def training_delete(run_id: str) -> None:
    """Remove a run that was never queued (its publish failed: nothing will run it)."""
    TrainingRun.objects(id=run_id).delete()


@guard
def training_get(run_id: str) -> TrainingRun | None:
    return TrainingRun.objects(id=run_id).first()


@guard
def trainings_list(
    *, model: str | None = None, models: list[str] | None = None, limit: int = 50
) -> list[TrainingRun]:
    """The newest runs: of `model`, of any of `models`, or of every model."""
    if model:
        query = TrainingRun.objects(model=model)
    elif models is not None:
        query = TrainingRun.objects(model__in=models)
    else:
        query = TrainingRun.objects
    return list(query.order_by("-created_at").limit(limit))


@guard
def training_claim(run_id: str, *, stale_before: datetime, worker: str | None = None) -> TrainingRun | None:
    """Mark the run running in this process of `worker` (a Celery node name), if it is
    claimable (the module's docstring says when); None otherwise.

    Read, then a compare-and-set on the state read (status and attempts): of two deliveries
    that read the same state, one claims the run."""
    seen = (
        TrainingRun.objects(id=run_id)
        .only("status", "attempts", "started_at", "requeued_at", "worker", "worker_pid")
        .first()
    )
    if seen is None or not _claimable(seen, stale_before=stale_before, worker=worker):
        return None
    stamp = now()
    return TrainingRun.objects(id=run_id, status=seen.status, attempts=seen.attempts).modify(
        new=True,
        set__status=RUNNING,
        set__started_at=stamp,
        set__stage="starting",
        inc__attempts=1,
        set__worker=worker,
        set__worker_pid=os.getpid(),
        push__progress={"stage": "starting", "at": stamp},
    )


def _claimable(run: TrainingRun, *, stale_before: datetime, worker: str | None) -> bool:
    if run.status == QUEUED:
        return True
    if run.status != RUNNING:
        return False
    if run.requeued_at is not None and run.requeued_at > run.started_at:
        return True  # orphaned: its worker was found gone, or it ran past the hard time limit
    if run.started_at < stale_before:
        return True  # older than the hard time limit: its worker is surely gone
    return _holder_gone(run, worker)


def _holder_gone(run: TrainingRun, worker: str | None) -> bool:
    """Whether the process that claimed the run is gone. Only a process of this node can be
    checked here; one elsewhere, or one not recorded, is the rescue's or the sweeper's to judge."""
    if run.worker is None or run.worker_pid is None or run.worker != worker:
        return False
    return run.worker_pid == os.getpid() or not process_alive(run.worker_pid)


def training_workers() -> set[str]:
    """The Celery nodes recorded as running some training run now."""
    return workers_running(TrainingRun)


def trainings_orphan(worker: str, held: list[str], **judged) -> list[str]:
    """The training runs of `worker` that no live process of it holds, marked orphaned
    (base.orphans_mark says which, and how a live worker is `judged`); their ids, to
    publish again."""
    return orphans_mark(TrainingRun, worker, held, **judged)


@guard
def training_stage(run_id: str, stage: str) -> None:
    TrainingRun.objects(id=run_id).update_one(set__stage=stage, push__progress={"stage": stage, "at": now()})


@guard
def training_finish(run_id: str, *, status: str, **fields) -> None:
    updates = {f"set__{name}": value for name, value in fields.items()}
    stamp = now()
    TrainingRun.objects(id=run_id, status__in=[QUEUED, RUNNING]).update_one(
        set__status=status,
        set__stage=status,
        set__completed_at=stamp,
        push__progress={"stage": status, "at": stamp},
        **updates,
    )
