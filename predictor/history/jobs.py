"""Prediction jobs: the history clients poll."""

import uuid
from datetime import datetime

import mongoengine as me
import orjson

from .base import CANCELED, QUEUED, RUNNING, STATUSES, guard, now, outbox_handed, outbox_waiting

# What a finish writes: a finish message carries them (workers/events.py).
FINISH_FIELDS = ("status", "output", "error", "attempts", "started_at", "completed_at", "worker")
# The error of a job canceled because its Cancel-After deadline passed, whoever saw it pass.
DEADLINE_PASSED = "canceled: its Cancel-After deadline passed"


class PredictionJob(me.Document):
    id = me.StringField(primary_key=True)
    owner_id = me.IntField(required=True)
    model = me.StringField(required=True)
    version = me.IntField(required=True)
    artifact_sha256 = me.StringField(required=True)
    sklearn_version = me.StringField(required=True)
    # The registry's signature of the artifact (predictor/artifacts.py): a job forged in
    # MongoDB cannot carry a valid one, so its artifact is never loaded.
    artifact_signature = me.StringField(null=True)
    # One row (`input`) or a batch (`inputs`); rows keep the model's feature order, and the
    # worker relies on it: read back, a BSON document and the JSON text alike keep their key
    # order, which is the feature order of the predict (predictor/predictions.py, _predict).
    # A batch's rows, and its output, are stored as JSON text (batch_encode below).
    input = me.DictField(null=True)
    inputs = me.DynamicField(default=None, null=True)
    # Per row, a list of warnings found at the submit (a category never seen in training),
    # which the worker adds to that row's output; absent when there are none.
    warnings = me.ListField(null=True)
    # An imported version's boolean features as its dataset spells them ({"feature": {"true":
    # "Yes", "false": "No"}}), which the worker gives the model (predictor/frames.py); absent
    # otherwise.
    spellings = me.DictField(null=True)
    # A dict for one row; for a batch, a list of dicts (one per row, in order) as JSON text.
    output = me.DynamicField(null=True)
    error = me.StringField(null=True)
    status = me.StringField(choices=STATUSES, default=QUEUED)
    # Deliveries begun; a task that kills its worker every time ends failed, not looping.
    attempts = me.IntField(default=0)
    # A job not finished by then is canceled (the Cancel-After header).
    cancel_after = me.DateTimeField(null=True)
    webhook = me.StringField(null=True)
    webhook_events_filter = me.ListField(me.StringField(), default=list)
    # The outbox of the end's webhook call: True from the submit while the job has a webhook
    # that wants "completed", removed once that delivery's task is published. The rescue
    # sweep publishes it for a job that ended and still has it (its worker could not reach
    # Redis then: workers/events.py, job_event), so no end goes unannounced.
    webhook_unsent = me.BooleanField(null=True)
    created_at = me.DateTimeField(required=True)
    started_at = me.DateTimeField(null=True)
    completed_at = me.DateTimeField(null=True)
    # Set when the sweeper or the rescue publishes the job again (its task was lost or its
    # worker died): after `started_at`, the job is orphaned and any delivery may claim it.
    requeued_at = me.DateTimeField(null=True)
    # The task running it: its own, or the one whose batch it joined (history/claims.py).
    claimed_by = me.StringField(null=True)
    # The submit's request id (X-Request-ID; myproject/logs.py): the worker's lines carry it.
    request_id = me.StringField(null=True)
    # The Celery worker that claimed it last (node name, e.g. predict@host): where it ran.
    worker = me.StringField(null=True)
    # Its pool process there: a second delivery of the task on that node takes the job
    # over only when this process is gone (history/claims.py).
    worker_pid = me.IntField(null=True)

    meta = {
        "collection": "prediction_jobs",
        "indexes": [
            {"fields": ["owner_id", "-created_at", "-_id"]},
            {"fields": ["owner_id", "model", "-created_at", "-_id"]},
            {"fields": ["status", "created_at"]},
            # Sparse: only the jobs whose end is still to be announced are in it.
            {"fields": ["webhook_unsent", "completed_at"], "sparse": True},
        ],
        "auto_create_index": False,
    }


def batch_encode(values: list) -> str:
    """A batch's rows or outputs as they are stored: one JSON string, not BSON arrays of
    documents. SecantusDB copies, diffs and re-encodes every value of a document on each
    update (the claim, the finish): as one value per feature of every row, a large batch
    cost it CPU in proportion to its size on every update (py-spy, `make bench --profile`
    shows where); as one string, next to nothing. The values are the same floats and
    strings, so reading them back loses nothing."""
    return orjson.dumps(values).decode()


def batch_decode(value):
    """Stored rows or outputs as Python values; documents from before batch_encode hold lists."""
    return orjson.loads(value) if isinstance(value, str) else value


class JobView:
    """A stored job as pymongo read it, with the document's attribute names.

    Reads and writes of jobs skip mongoengine's conversions, which on a large batch cost
    more than the database call itself, to create a job and to read it. PredictionJob
    stays the schema's home (fields, indexes) and the way to query the collection.
    """

    __slots__ = ("_doc",)

    def __init__(self, doc: dict):
        self._doc = doc

    def __getattr__(self, name):
        if name == "id":
            return self._doc["_id"]
        try:
            default = _DEFAULTS[name]
        except KeyError:
            raise AttributeError(name) from None
        return self._doc.get(name, default)

    def __eq__(self, other):
        return isinstance(other, JobView) and other._doc == self._doc

    __hash__ = None

    @property
    def is_batch(self) -> bool:
        return self._doc.get("inputs") is not None

    @property
    def inputs(self) -> list[dict] | None:
        return batch_decode(self._doc.get("inputs"))

    @property
    def output(self):
        return batch_decode(self._doc.get("output"))

    @property
    def rows(self) -> list[dict]:
        return self.inputs if self.is_batch else [self.input]

    @property
    def finish_state(self) -> dict:
        """The fields a finish writes, as stored (what a finish message carries)."""
        return {name: self._doc.get(name) for name in FINISH_FIELDS}

    def finished_as(self, state: dict) -> "JobView":
        """This job with a finish's fields (from its finish message) laid over it."""
        return JobView({**self._doc, **state})


_DEFAULTS = {
    name: field.default() if callable(field.default) else field.default
    for name, field in PredictionJob._fields.items()
    if name != "id"
}


@guard
def job_create(
    *,
    owner_id: int,
    model: str,
    version: int,
    artifact_sha256: str,
    sklearn_version: str,
    artifact_signature: str | None = None,
    input: dict | None = None,
    inputs: list[dict] | None = None,
    cancel_after: datetime | None = None,
    webhook: str | None = None,
    webhook_events_filter: list[str] | None = None,
    job_id: str | None = None,
    request_id: str | None = None,
    warnings: list[list[dict]] | None = None,
    spellings: dict | None = None,
) -> JobView:
    doc = {
        "_id": job_id or str(uuid.uuid4()),
        "owner_id": owner_id,
        "model": model,
        "version": version,
        "artifact_sha256": artifact_sha256,
        "sklearn_version": sklearn_version,
        "artifact_signature": artifact_signature,
        "input": input,
        "inputs": batch_encode(inputs) if inputs is not None else None,
        "output": None,
        "error": None,
        "status": QUEUED,
        "attempts": 0,
        "cancel_after": cancel_after,
        "webhook": webhook,
        "webhook_events_filter": webhook_events_filter or [],
        "created_at": now(),
        "request_id": request_id,
    }
    if warnings:
        doc["warnings"] = warnings
    if spellings:
        doc["spellings"] = spellings
    if webhook and (not webhook_events_filter or "completed" in webhook_events_filter):
        doc["webhook_unsent"] = True
    PredictionJob._get_collection().insert_one(doc)
    return JobView(doc)


@guard
def webhook_handed(job_id: str) -> None:
    """The job's "completed" delivery is published: out of the outbox."""
    outbox_handed(PredictionJob, job_id)


@guard
def webhooks_unsent(*, ended_before: datetime, limit: int) -> list[JobView]:
    """Jobs that ended before `ended_before` with their "completed" delivery never published."""
    return [JobView(doc) for doc in outbox_waiting(PredictionJob, ended_before=ended_before, limit=limit)]


@guard
def ping() -> None:
    """Raise HistoryUnavailable unless MongoDB answers a read within the time budget. A read
    (a job looked up by key), not the `ping` command: a SecantusDB whose disk filled still
    answers `ping`, and fails every read and write (tests/chaos/test_mongo_faults.py)."""
    PredictionJob._get_collection().find_one({"_id": "readiness-check"}, {"_id": 1})


@guard
def job_delete(job_id: str) -> None:
    PredictionJob.objects(id=job_id).delete()


@guard
def job_get(job_id: str, *, owner_id: int | None = None) -> JobView | None:
    # `_id` first: SecantusDB looks a filter up by its first indexed clause.
    query = {"_id": job_id} if owner_id is None else {"_id": job_id, "owner_id": owner_id}
    doc = PredictionJob._get_collection().find_one(query)
    return JobView(doc) if doc is not None else None


@guard
def jobs_cancel_expired(*, limit: int) -> list[JobView]:
    """Cancel unfinished jobs whose Cancel-After deadline has passed; returns them."""
    expired = (
        PredictionJob.objects(status__in=[QUEUED, RUNNING], cancel_after__lt=now()).only("id").limit(limit)
    )
    canceled = [job_finish(job.id, status=CANCELED, error=DEADLINE_PASSED) for job in expired]
    return [job for job in canceled if job is not None]


@guard
def job_finish(job_id: str, *, status: str, output=None, error: str | None = None) -> JobView | None:
    """Finish an unfinished job (a cancel, a deadline, a give-up); None if it had finished
    already, so a result never overwrites a cancellation and a cancel never a result.

    update_one, then a read: SecantusDB's findAndModify scans the whole collection (see
    history/claims.py).
    """
    collection = PredictionJob._get_collection()
    moved = collection.update_one(
        {"_id": job_id, "status": {"$in": [QUEUED, RUNNING]}},
        {"$set": {"status": status, "output": output, "error": error, "completed_at": now()}},
    )
    return job_get(job_id) if moved.modified_count else None


@guard
def job_cancel(job_id: str, *, owner_id: int) -> tuple[JobView | None, bool]:
    """Cancel the owner's job if unfinished. Returns (job, whether this call canceled it);
    a finished job is returned as it is."""
    if job_get(job_id, owner_id=owner_id) is None:
        return None, False
    canceled = job_finish(job_id, status=CANCELED, error="canceled by request")
    return (canceled, True) if canceled else (job_get(job_id), False)
