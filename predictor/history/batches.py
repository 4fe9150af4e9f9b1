"""Batch jobs: a whole CSV file scored in chunks (POST /api/v1/batches/).

A batch is one document (`batch_jobs`) naming its file in GridFS (predictor/batch_files.py)
and the version that scores it; each chunk of its rows is a document of its own
(`batch_chunks`), the unit of work and of retry. A chunk is claimed, run and finished as a
training run is (status, attempts, worker, worker_pid, requeued_at: the sweeper and the
rescue treat it the same way, workers/tasks.py and workers/liveness.py), and its results
are a GridFS file that only the run finishing the chunk names. Running a chunk again after
its worker died writes a new results file; the chunk names one, so no row is ever twice in
a batch's results.

The batch's counts (rows done, failed, labels) are summed from its chunks on every read:
the chunks are the only record of them, so nothing can be counted twice or lost between
two writes.
"""

import os
import uuid
from datetime import datetime

import mongoengine as me

from .base import (
    CANCELED,
    FAILED,
    QUEUED,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    guard,
    now,
    orphans_mark,
    outbox_handed,
    outbox_waiting,
)

# The error of a chunk whose every delivery killed its worker (BATCH_CHUNK_MAX_ATTEMPTS):
# its rows become error lines, the batch fails.
CHUNK_GAVE_UP = "its worker died on each of {attempts} tries"


class BatchJob(me.Document):
    id = me.StringField(primary_key=True)
    owner_id = me.IntField(required=True)
    model = me.StringField(required=True)
    version = me.IntField(required=True)
    artifact_sha256 = me.StringField(required=True)
    sklearn_version = me.StringField(required=True)
    artifact_signature = me.StringField(null=True)
    # The version's feature schema as it was at the submit: the chunks read cells by it.
    schema = me.ListField(me.DictField(), default=list)
    spellings = me.DictField(null=True)
    # The upload in GridFS (predictor/batch_files.py: a file per chunk, each naming this id)
    # and what its scan found.
    upload_id = me.ObjectIdField(required=True)
    filename = me.StringField(default="")
    size_bytes = me.IntField(required=True)
    header = me.ListField(me.StringField(), required=True)
    delimiter = me.StringField(required=True)
    key_column = me.StringField(null=True)
    rows_total = me.IntField(required=True)
    chunks_total = me.IntField(required=True)
    chunk_rows = me.IntField(required=True)
    # The results file's header, written by the first chunk to finish (it knows the classes).
    result_columns = me.ListField(me.StringField(), null=True)
    status = me.StringField(choices=STATUSES, default=QUEUED)
    error = me.StringField(null=True)
    webhook = me.StringField(null=True)
    webhook_events_filter = me.ListField(me.StringField(), default=list)
    # As a prediction job's: the end's webhook still to be published (workers/events.py).
    webhook_unsent = me.BooleanField(null=True)
    request_id = me.StringField(null=True)
    created_at = me.DateTimeField(required=True)
    started_at = me.DateTimeField(null=True)
    completed_at = me.DateTimeField(null=True)

    meta = {
        "collection": "batch_jobs",
        "indexes": [
            {"fields": ["owner_id", "-created_at", "-_id"]},
            {"fields": ["status", "created_at"]},
            {"fields": ["webhook_unsent", "completed_at"], "sparse": True},
        ],
        "auto_create_index": False,
    }


class BatchChunk(me.Document):
    # "<batch id>.<index, 6 digits>": sorted by id is the file's order.
    id = me.StringField(primary_key=True)
    batch_id = me.StringField(required=True)
    index = me.IntField(required=True)
    # Its records' GridFS file; where they were in the uploaded file ([start, end)) and the
    # file line its first record starts on.
    file_id = me.ObjectIdField(required=True)
    start = me.IntField(required=True)
    end = me.IntField(required=True)
    first_line = me.IntField(required=True)
    rows = me.IntField(required=True)
    status = me.StringField(choices=STATUSES, default=QUEUED)
    attempts = me.IntField(default=0)
    created_at = me.DateTimeField(required=True)
    started_at = me.DateTimeField(null=True)
    completed_at = me.DateTimeField(null=True)
    requeued_at = me.DateTimeField(null=True)
    worker = me.StringField(null=True)
    worker_pid = me.IntField(null=True)
    # Its results lines in GridFS, named by the run that finished it; and their counts.
    result_file_id = me.ObjectIdField(null=True)
    done = me.IntField(default=0)
    failed = me.IntField(default=0)
    labels = me.DictField(default=dict)
    error = me.StringField(null=True)

    meta = {
        "collection": "batch_chunks",
        "indexes": [
            {"fields": ["batch_id", "index"]},
            {"fields": ["status", "created_at"]},
        ],
        "auto_create_index": False,
    }


# The GridFS buckets of predictor/batch_files.py: the uploads' chunk files and the results.
UPLOADS_BUCKET, RESULTS_BUCKET = "batch_files", "batch_results"


# Uploads under way (predictor/batch_files.py): each one's id, from its first byte until it
# becomes a batch or is removed. One left behind (its web process died) is swept.
UPLOADS_UNDER_WAY = "batch_uploads"


@guard
def upload_mark(upload_id, *, started_at: datetime | None = None) -> None:
    BatchJob._get_db()[UPLOADS_UNDER_WAY].insert_one({"_id": upload_id, "started_at": started_at or now()})


@guard
def upload_unmark(upload_id) -> None:
    BatchJob._get_db()[UPLOADS_UNDER_WAY].delete_one({"_id": upload_id})


@guard
def uploads_abandoned(*, started_before: datetime, limit: int) -> list[tuple[object, bool]]:
    """Uploads begun before `started_before` and still marked: (id, whether a batch names it:
    its files are the batch's, only the mark is left)."""
    found = BatchJob._get_db()[UPLOADS_UNDER_WAY].find({"started_at": {"$lt": started_before}}, limit=limit)
    ids = [doc["_id"] for doc in found]
    named = (
        {batch.upload_id for batch in BatchJob.objects(upload_id__in=ids).only("upload_id")} if ids else set()
    )
    return [(upload_id, upload_id in named) for upload_id in ids]


def batch_files_ensure_indexes() -> None:
    """GridFS's own indexes for both buckets (its pieces by file and number, its files by name
    and date), and the uploads' files by the upload they belong to."""
    db = BatchJob._get_db()
    for bucket in (UPLOADS_BUCKET, RESULTS_BUCKET):
        db[f"{bucket}.chunks"].create_index([("files_id", 1), ("n", 1)], unique=True)
        db[f"{bucket}.files"].create_index([("filename", 1), ("uploadDate", 1)])
    db[f"{UPLOADS_BUCKET}.files"].create_index([("metadata.upload", 1)])
    db[f"{UPLOADS_BUCKET}.chunks"].create_index([("upload", 1)])
    db[UPLOADS_UNDER_WAY].create_index([("started_at", 1)])


def chunk_id(batch_id: str, index: int) -> str:
    return f"{batch_id}.{index:06d}"


@guard
def batch_create(*, spans: list, chunk_files: list, created_at: datetime | None = None, **fields) -> BatchJob:
    """Write the batch and all its chunks, queued. `spans`: the scan's chunks (start, end,
    first_line, rows); `chunk_files`: each one's GridFS file. Chunks first: a batch without
    its chunks never exists; chunks without their batch (the web died between) are skipped
    by their tasks and swept."""
    stamp = created_at or now()
    batch_id = fields.pop("batch_id", None) or str(uuid.uuid4())
    chunks = [
        {
            "_id": chunk_id(batch_id, index),
            "batch_id": batch_id,
            "index": index,
            "file_id": file_id,
            "start": span.start,
            "end": span.end,
            "first_line": span.first_line,
            "rows": span.rows,
            "status": QUEUED,
            "attempts": 0,
            "created_at": stamp,
            "done": 0,
            "failed": 0,
            "labels": {},
        }
        for index, (span, file_id) in enumerate(zip(spans, chunk_files, strict=True))
    ]
    if chunks:
        BatchChunk._get_collection().insert_many(chunks, ordered=False)
    if fields.get("webhook"):
        # Its end's webhook, in the outbox until handed to the notifier (batch_webhook_handed).
        fields["webhook_unsent"] = True
    batch = BatchJob(id=batch_id, chunks_total=len(chunks), created_at=stamp, **fields)
    batch.save(force_insert=True)
    # Its upload is a batch's now. A mark left (this write failed) is only a mark: the sweep
    # finds the batch that names the upload and keeps its files.
    BatchJob._get_db()[UPLOADS_UNDER_WAY].delete_one({"_id": batch.upload_id})
    return batch


@guard
def batch_get(batch_id: str) -> BatchJob | None:
    return BatchJob.objects(id=batch_id).first()


@guard
def batch_get_owned(batch_id: str, *, owner_id: int | None) -> BatchJob | None:
    """The batch if `owner_id` owns it (None: staff, any owner); None otherwise, whether it
    exists or not (the two are not told apart)."""
    query = {"id": batch_id} if owner_id is None else {"id": batch_id, "owner_id": owner_id}
    return BatchJob.objects(**query).first()


@guard
def batches_list(*, owner_id: int | None, limit: int = 50, before: datetime | None = None) -> list[BatchJob]:
    """The newest batches first (of `owner_id`; None: everyone's)."""
    query = BatchJob.objects if owner_id is None else BatchJob.objects(owner_id=owner_id)
    if before is not None:
        query = query.filter(created_at__lt=before)
    return list(query.exclude("schema", "spellings").order_by("-created_at", "-id").limit(limit))


@guard
def batch_chunks(batch_id: str, *, fields: tuple[str, ...] | None = None) -> list[BatchChunk]:
    query = BatchChunk.objects(batch_id=batch_id)
    if fields:
        query = query.only(*fields)
    return list(query.order_by("index"))


# What a batch's progress and counts are summed from (batch_counts).
PROGRESS_FIELDS = ("batch_id", "index", "status", "rows", "done", "failed", "labels")


@guard
def chunks_of(batch_ids: list[str]) -> dict[str, list[BatchChunk]]:
    """The chunks of many batches in one query, each batch's in file order (a list page)."""
    found: dict[str, list[BatchChunk]] = {batch_id: [] for batch_id in batch_ids}
    if batch_ids:
        for chunk in (
            BatchChunk.objects(batch_id__in=batch_ids).only(*PROGRESS_FIELDS).order_by("batch_id", "index")
        ):
            found[chunk.batch_id].append(chunk)
    return found


def batch_counts(chunks: list[BatchChunk]) -> dict:
    """Rows done (predicted), failed (error lines) and pending, and labels, from the chunks."""
    done = failed = pending = 0
    labels: dict[str, int] = {}
    for chunk in chunks:
        if chunk.status == SUCCEEDED:
            done += chunk.done
            failed += chunk.failed
            for label, count in (chunk.labels or {}).items():
                labels[label] = labels.get(label, 0) + count
        elif chunk.status == FAILED:
            failed += chunk.rows
        elif chunk.status != CANCELED:
            pending += chunk.rows
    return {"done": done, "failed": failed, "pending": pending, "labels": labels}


@guard
def chunk_claim(chunk: str, *, stale_before: datetime, worker: str | None) -> BatchChunk | None:
    """Mark the chunk running in this process of `worker`, if it may run (queued, or running
    for a holder that is gone, as a training run: history/trainings.py); None otherwise."""
    from .trainings import _claimable  # the same rule, on the same fields

    claim = {
        "new": True,
        "set__status": RUNNING,
        "set__started_at": now(),
        "inc__attempts": 1,
        "set__worker": worker,
        "set__worker_pid": os.getpid(),
    }
    # A queued chunk (its first delivery, nearly always) is claimed in one write.
    claimed = BatchChunk.objects(id=chunk, status=QUEUED).modify(**claim)
    if claimed is not None:
        return claimed
    seen = (
        BatchChunk.objects(id=chunk)
        .only("status", "attempts", "started_at", "requeued_at", "worker", "worker_pid")
        .first()
    )
    if seen is None or not _claimable(seen, stale_before=stale_before, worker=worker):
        return None
    return BatchChunk.objects(id=chunk, status=seen.status, attempts=seen.attempts).modify(**claim)


@guard
def batch_started(batch_id: str) -> None:
    """The batch is running from its first chunk's claim (a canceled one stays canceled)."""
    BatchJob.objects(id=batch_id, status=QUEUED).update_one(set__status=RUNNING, set__started_at=now())


@guard
def chunk_finish(
    chunk: BatchChunk, *, status: str, result_file_id=None, error: str | None = None, **counts
) -> bool:
    """End the chunk as this run of it (its claim: status running and its attempt); False
    when another run ended it first (then the caller's results file is named by no one: the
    caller deletes it). A chunk running when its batch is canceled still ends: its rows are
    scored, and the results keep them."""
    updates = {f"set__{name}": value for name, value in counts.items()}
    return bool(
        BatchChunk.objects(id=chunk.id, status=RUNNING, attempts=chunk.attempts).update_one(
            set__status=status,
            set__completed_at=now(),
            set__result_file_id=result_file_id,
            set__error=error,
            **updates,
        )
    )


@guard
def chunk_give_up(chunk_id_: str, *, attempts: int) -> bool:
    """A chunk whose every try killed its worker ends failed (its rows are error lines)."""
    return bool(
        BatchChunk.objects(id=chunk_id_, status__in=[QUEUED, RUNNING]).update_one(
            set__status=FAILED, set__completed_at=now(), set__error=CHUNK_GAVE_UP.format(attempts=attempts)
        )
    )


@guard
def batch_columns_set(batch_id: str, columns: list[str]) -> None:
    BatchJob.objects(id=batch_id, result_columns=None).update_one(set__result_columns=columns)


@guard
def batch_end_if_done(batch_id: str) -> BatchJob | None:
    """End the batch once none of its chunks is left to run: succeeded, or failed when a
    chunk failed. Returns the batch if this call ended it (to announce), else None."""
    # A find of one, not a count: MongoDB counts through an aggregation, dearer per chunk.
    if BatchChunk.objects(batch_id=batch_id, status__in=[QUEUED, RUNNING]).only("id").first() is not None:
        return None
    failed = BatchChunk.objects(batch_id=batch_id, status=FAILED).only("index", "error").first()
    fields = {"set__status": SUCCEEDED}
    if failed is not None:
        fields = {
            "set__status": FAILED,
            "set__error": f"chunk {failed.index + 1} failed: {failed.error}; its rows are error lines",
        }
    updated = BatchJob.objects(id=batch_id, status__in=[QUEUED, RUNNING]).modify(
        new=True, set__completed_at=now(), **fields
    )
    return updated


@guard
def batch_stop(
    batch_id: str, *, status: str, error: str | None = None, owner_id: int | None = None
) -> tuple[BatchJob | None, bool]:
    """Cancel (or fail, `status`) the batch, and every chunk of it not yet running; a running
    chunk finishes (chunk_finish). Returns the batch as it is after (None when there is no
    such batch for this owner) and whether this call ended it (its end is then to announce)."""
    query = {"id": batch_id} if owner_id is None else {"id": batch_id, "owner_id": owner_id}
    stopped = BatchJob.objects(status__in=[QUEUED, RUNNING], **query).modify(
        new=True, set__status=status, set__error=error, set__completed_at=now()
    )
    if stopped is None:
        return BatchJob.objects(**query).first(), False
    BatchChunk.objects(batch_id=batch_id, status=QUEUED).update(set__status=CANCELED, set__completed_at=now())
    return stopped, True


@guard
def batch_webhook_handed(batch_id: str) -> None:
    """The batch's end is published to its webhook: out of the outbox."""
    outbox_handed(BatchJob, batch_id)


@guard
def batches_webhook_unsent(*, ended_before: datetime, limit: int) -> list[str]:
    """Batches that ended before `ended_before` with their end's webhook never published."""
    found = outbox_waiting(BatchJob, ended_before=ended_before, limit=limit, projection={"_id": 1})
    return [doc["_id"] for doc in found]


@guard
def batch_delete(batch_id: str) -> None:
    """Remove the batch and its chunks (a submit that could not queue them)."""
    BatchJob.objects(id=batch_id).delete()
    BatchChunk.objects(batch_id=batch_id).delete()


@guard
def chunks_orphan(worker: str, held: list[str], **judged) -> list[str]:
    """The chunks of `worker` that no live process of it holds (history/base.orphans_mark)."""
    return orphans_mark(BatchChunk, worker, held, **judged)


@guard
def chunk_workers() -> set[str]:
    from .base import workers_running

    return workers_running(BatchChunk)


@guard
def batches_ended_unfinished(limit: int) -> list[str]:
    """Running batches whose chunks have all ended (their last chunk's run died before it
    could end the batch): the sweeper ends them."""
    running = [b.id for b in BatchJob.objects(status=RUNNING).only("id").limit(limit)]
    return [b for b in running if not BatchChunk.objects(batch_id=b, status__in=[QUEUED, RUNNING]).count()]
