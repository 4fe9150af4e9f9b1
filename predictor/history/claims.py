"""The worker's side of a job: claim it (and, under load, queued one-row jobs to run with
it), then finish them. The hottest MongoDB calls of the product, so pymongo directly.

Why no findAndModify: SecantusDB 0.7.0b3 (the embedded server) writes a findAndModify
through a filter it cannot plan, and scans the whole collection for every one: a claim
would cost more the more jobs are stored, where update_one with the same filter costs the
same at any size. So a claim reads the job by `_id`, then moves it with a compare-and-set on
the state it read; a finish is one conditional update_one, or one bulk write for a batch.
Every filter starts with `_id`, which both servers look up by key.

Who holds a running job: `claimed_by`, the id of the task that claimed it (its own id, or
the id of the job whose task ran it in a batch), and `worker` / `worker_pid`, the Celery
node and the pool process running it. A delivery may claim a job that is queued; or
running, held by its own task id, in a process of this same node that is gone (Celery
delivers a task again when the pool process running it died); or running, held by the
very try of its task that the delivery retries (`held`: that try claimed it, and MongoDB
did not take its end); or running and declared orphaned by the sweeper (`requeued_at`
after `started_at`: its worker stopped answering, workers/liveness.py, or it ran past the
hard time limit). A second message for a job that a live process runs (a re-publish while
the first message still waited, or a retry of a try that never claimed it) finds it held
and leaves it: no job runs twice while its first run can still finish.
"""

import os
from dataclasses import dataclass
from datetime import datetime

from pymongo import UpdateOne

from myproject.processes import process_alive

from .base import CANCELED, FINISHED, QUEUED, RUNNING, guard, now, orphans_mark, workers_running
from .jobs import JobView, PredictionJob, batch_decode, batch_encode

# What a job's task message carries (job_message): all that running it needs, so that its
# first delivery reads nothing from MongoDB (workers/claims.py).
_MESSAGE_FIELDS = (
    "owner_id",
    "model",
    "version",
    "artifact_sha256",
    "sklearn_version",
    "artifact_signature",
    "input",
    "inputs",
    "warnings",
    "spellings",
    "cancel_after",
    "webhook",
    "webhook_events_filter",
    "created_at",
    "request_id",
)
# What a worker reads of a job (never its output, which may be large): what its message
# would carry, and the state of its claims.
_CLAIM_STATE = ("status", "attempts", "started_at", "requeued_at", "claimed_by", "worker", "worker_pid")
_CLAIM_FIELDS = {name: 1 for name in (*_MESSAGE_FIELDS, *_CLAIM_STATE)}
_MESSAGE_DATETIMES = ("cancel_after", "created_at")


def job_message(job: JobView) -> dict:
    """What a new job's task message carries (JSON: its dates as ISO 8601 text)."""
    message = {name: getattr(job, name) for name in _MESSAGE_FIELDS}
    message["inputs"] = job._doc.get("inputs")  # a batch's rows as stored: JSON text
    for name in _MESSAGE_DATETIMES:
        if message[name] is not None:
            message[name] = message[name].isoformat()
    return message


@dataclass
class ClaimedJob:
    """A job this worker holds: what running, finishing and announcing it need."""

    id: str
    owner_id: int
    model: str
    version: int
    artifact_sha256: str
    sklearn_version: str
    artifact_signature: str | None
    rows: list[dict]
    is_batch: bool
    attempts: int
    cancel_after: datetime | None
    webhook: str | None
    webhook_events_filter: list[str]
    created_at: datetime
    started_at: datetime
    claimed_by: str
    # The submit's request id (myproject/logs.py), for the job's log lines.
    request_id: str | None = None
    # The Celery worker running it (node name).
    worker: str | None = None
    # What the finish wrote (its fields as stored), once this worker finished the job.
    finish_state: dict | None = None
    # Per row, what the submit found worth telling (unseen categories), for the output.
    warnings: list[list[dict]] | None = None
    # An imported version's boolean features as its dataset spells them (the model's input).
    spellings: dict | None = None
    # Whether MongoDB records this claim (`running`, held by `claimed_by`). A first delivery
    # holds its job in Redis only (workers/claims.py) until job_mark_running writes it.
    marked: bool = True

    @classmethod
    def from_document(
        cls, doc: dict, *, started_at: datetime, claimed_by: str, worker: str | None = None
    ) -> "ClaimedJob":
        inputs = doc.get("inputs")
        return cls(
            id=doc["_id"],
            owner_id=doc["owner_id"],
            model=doc["model"],
            version=doc["version"],
            artifact_sha256=doc["artifact_sha256"],
            sklearn_version=doc["sklearn_version"],
            artifact_signature=doc.get("artifact_signature"),
            rows=batch_decode(inputs) if inputs is not None else [doc["input"]],
            is_batch=inputs is not None,
            attempts=doc.get("attempts", 0) + 1,
            cancel_after=doc.get("cancel_after"),
            webhook=doc.get("webhook"),
            webhook_events_filter=doc.get("webhook_events_filter") or [],
            created_at=doc["created_at"],
            started_at=started_at,
            claimed_by=claimed_by,
            request_id=doc.get("request_id"),
            worker=worker,
            warnings=doc.get("warnings"),
            spellings=doc.get("spellings"),
        )

    @classmethod
    def from_message(
        cls, job_id: str, message: dict, *, started_at: datetime, worker: str | None
    ) -> "ClaimedJob":
        """A first delivery's job, from its task message (job_message), held in Redis only."""
        doc = {**message, "_id": job_id}
        for name in _MESSAGE_DATETIMES:
            if doc[name] is not None:
                doc[name] = datetime.fromisoformat(doc[name])
        job = cls.from_document(doc, started_at=started_at, claimed_by=job_id, worker=worker)
        job.marked = False
        return job


def _jobs():
    return PredictionJob._get_collection()


def _running(job: ClaimedJob) -> dict:
    """The fields of a claim, as MongoDB records it."""
    return {
        "status": RUNNING,
        "started_at": job.started_at,
        "claimed_by": job.claimed_by,
        "worker": job.worker,
        "worker_pid": os.getpid(),
    }


@guard
def job_mark_running(job: ClaimedJob) -> bool:
    """Record in MongoDB the claim a first delivery holds in Redis (its run has lasted long
    enough to show, and to be rescued if its worker dies). False when the job is no longer
    queued: canceled meanwhile, and the run's end will not be written either."""
    moved = _jobs().update_one(
        {"_id": job.id, "status": QUEUED, "attempts": 0},
        {"$set": _running(job), "$inc": {"attempts": 1}},
    )
    job.marked = moved.modified_count == 1
    return job.marked


def _claimable(doc: dict, task_id: str, worker: str | None, held: int | None) -> bool:
    if doc["status"] == QUEUED:
        return True
    if doc["status"] != RUNNING:
        return False
    if doc.get("requeued_at") is not None and doc["requeued_at"] > doc["started_at"]:
        return True  # orphaned: its worker was found gone, or it ran past the hard time limit
    # No holder: claimed before holders were recorded, so by its own task.
    if doc.get("claimed_by") not in (None, task_id):
        return False
    # A retry of the try that claimed it (MongoDB did not take that try's end): the try has
    # ended. Only while no other delivery of the task claimed it since (each claim counts
    # an attempt): a job re-published while the retry waited may be running there now.
    if held is not None and doc.get("attempts", 0) == held:
        return True
    return _holder_gone(doc, worker)


def _holder_gone(doc: dict, worker: str | None) -> bool:
    """Whether the process that claimed the job (its own task, an earlier delivery) is gone.
    Only a process of this node can be checked here; one elsewhere is the sweeper's to judge."""
    held_by, pid = doc.get("worker"), doc.get("worker_pid")
    if held_by is None or pid is None:
        return True  # claimed before processes were recorded: the earlier rule
    if held_by != worker:
        return False
    return pid == os.getpid() or not process_alive(pid)


@guard
def job_claim(
    job_id: str, *, worker: str | None = None, held: int | None = None, lost: int = 0
) -> tuple[ClaimedJob | None, list[str]]:
    """Claim the job for its own task: (the job, or None when it is finished, gone or held
    by a live batch; ids of jobs to publish again). The ids are the jobs an earlier delivery
    of this task had claimed with it and never finished: they go back to the queue, to run
    on their own, rather than run again beside a job that may be what killed the worker.
    `held`: this is a retry of the task, whose earlier try claimed the job as this attempt
    (its `attempts` then) and could not write its end. `lost`: deliveries known to have
    begun that MongoDB never heard of (a first delivery whose process died while it held the
    job in Redis, workers/claims.py), counted with this one: a job that kills its process
    every time still ends failed after PREDICTION_MAX_ATTEMPTS."""
    jobs = _jobs()
    doc = jobs.find_one({"_id": job_id}, _CLAIM_FIELDS)
    if doc is None or not _claimable(doc, job_id, worker, held):
        return None, []
    released = _release_peers(job_id) if doc["status"] == RUNNING else []
    started = now()
    moved = jobs.update_one(
        {"_id": job_id, "status": doc["status"], "attempts": doc.get("attempts", 0)},
        {
            "$set": {
                "status": RUNNING,
                "started_at": started,
                "claimed_by": job_id,
                "worker": worker,
                "worker_pid": os.getpid(),
            },
            "$inc": {"attempts": 1 + lost},
        },
    )
    if moved.modified_count != 1:
        return None, released  # another delivery or a cancel moved it first
    doc["attempts"] = doc.get("attempts", 0) + lost
    return ClaimedJob.from_document(doc, started_at=started, claimed_by=job_id, worker=worker), released


@guard
def held_ends(
    job_id: str, *, held: int, peers: list[str], in_redis: bool = False
) -> tuple[list[JobView], list[str]]:
    """What the try of the job's task that held it as attempt `held`, with `peers`, left
    behind when MongoDB failed its finish. The try cannot know which ends were taken: a
    batch's ends are one write each, and a disk that filled took some of them and refused
    the rest. Returns the jobs it ended, whose ends were never announced, and, when the job
    itself ended, the ids of the peers it still held running, put back in the queue (to
    publish again: no retry runs them). Nothing when another delivery claimed the job since.
    A second look (this retry failing too) announces the same ends again: receivers
    de-duplicate by webhook-id (predictor/webhooks.py).

    `in_redis`: the try was a first delivery, which held the job in Redis (workers/claims.py);
    when none of its writes about the job itself landed, the peers it held go back too."""
    jobs = _jobs()
    docs = {doc["_id"]: doc for doc in jobs.find({"_id": {"$in": [job_id, *peers]}, "claimed_by": job_id})}
    lead = docs.get(job_id)
    if lead is None and in_redis:
        ended = [JobView(doc) for doc in docs.values() if doc["status"] in FINISHED]
        waiting = [doc_id for doc_id, doc in docs.items() if doc["status"] == RUNNING]
        _back_to_queue(waiting, task_id=job_id)
        return ended, waiting
    if lead is None or lead.get("attempts", 0) != held:
        return [], []
    ended = [JobView(doc) for doc in docs.values() if doc["status"] in FINISHED]
    if lead["status"] not in FINISHED:
        return ended, []  # the job runs again: its claim sends the peers back (_release_peers)
    waiting = [doc_id for doc_id, doc in docs.items() if doc["status"] == RUNNING]
    _back_to_queue(waiting, task_id=job_id)
    return ended, waiting


def _release_peers(task_id: str) -> list[str]:
    held = [d["_id"] for d in _jobs().find({"status": RUNNING, "claimed_by": task_id}, {"_id": 1})]
    held = [job_id for job_id in held if job_id != task_id]
    _back_to_queue(held, task_id=task_id)
    return held


def _back_to_queue(ids: list[str], *, task_id: str) -> None:
    """Queue again those of `ids` that the task `task_id` still holds running."""
    if ids:
        _jobs().update_many(
            {"_id": {"$in": ids}, "status": RUNNING, "claimed_by": task_id},
            {"$set": {"status": QUEUED, "claimed_by": None}},
        )


@guard
def peers_claim(leader: ClaimedJob, *, limit: int, reserve=None) -> list[ClaimedJob]:
    """Claim up to `limit` queued one-row jobs that the leader's pipeline serves and that
    never ran before (a job tried before runs alone), oldest first. `reserve(ids)`: those of
    the ids that no first delivery runs now, held for this batch (workers/claims.py)."""
    if limit <= 0:
        return []
    jobs = _jobs()
    candidates = list(
        jobs.find(
            {
                "status": QUEUED,
                "model": leader.model,
                "version": leader.version,
                "attempts": 0,
                "artifact_sha256": leader.artifact_sha256,
                "inputs": None,
            },
            _CLAIM_FIELDS,
        )
        .sort("created_at", 1)
        .limit(limit)
    )
    if reserve is not None and candidates:
        free = set(reserve([doc["_id"] for doc in candidates]))
        candidates = [doc for doc in candidates if doc["_id"] in free]
    if not candidates:
        return []
    ids = [doc["_id"] for doc in candidates]
    started = now()
    moved = jobs.update_many(
        {"_id": {"$in": ids}, "status": QUEUED, "attempts": 0},
        {
            "$set": {
                "status": RUNNING,
                "started_at": started,
                "claimed_by": leader.id,
                "worker": leader.worker,
                "worker_pid": os.getpid(),
            },
            "$inc": {"attempts": 1},
        },
    )
    if moved.modified_count != len(ids):
        # Some were claimed by their own tasks, or canceled, in between: keep what is ours.
        ours = {d["_id"] for d in jobs.find({"_id": {"$in": ids}, "claimed_by": leader.id}, {"_id": 1})}
        candidates = [doc for doc in candidates if doc["_id"] in ours]
    return [
        ClaimedJob.from_document(doc, started_at=started, claimed_by=leader.id, worker=leader.worker)
        for doc in candidates
    ]


def _finish_write(job: ClaimedJob, state: dict) -> tuple[dict, dict]:
    """A finish's filter and update: the job still held by this run (a cancel meanwhile
    wins). One held in Redis only is still queued and untried in MongoDB: its end writes its
    claim's fields with it."""
    ended = {name: state[name] for name in ("status", "output", "error", "completed_at")}
    if job.marked:
        return {"_id": job.id, "status": RUNNING, "claimed_by": job.claimed_by}, {"$set": ended}
    claimed = {**_running(job), "attempts": job.attempts, **ended}
    return {"_id": job.id, "status": QUEUED, "attempts": 0}, {"$set": claimed}


def _output_as_stored(output):
    # A batch's outputs are JSON text, as its rows are (jobs.batch_encode).
    return batch_encode(output) if isinstance(output, list) else output


@guard
def claimed_finish(results: list[tuple[ClaimedJob, dict]]) -> list[ClaimedJob]:
    """Finish jobs this worker holds, each with {status, output?, error?}; returns those
    finished here. A job canceled meanwhile keeps its cancellation (the write needs the job
    still running and still ours)."""
    if not results:
        return []
    stamp = now()
    # Each job's FINISH_FIELDS (history/jobs.py), as a finish message carries them.
    states = {
        job.id: {
            "status": fields["status"],
            "output": _output_as_stored(fields.get("output")),
            "error": fields.get("error"),
            "attempts": job.attempts,
            "started_at": job.started_at,
            "completed_at": stamp,
            "worker": job.worker,
        }
        for job, fields in results
    }
    writes = [_finish_write(job, states[job.id]) for job, _ in results]
    jobs = _jobs()
    if len(writes) == 1:
        written = jobs.update_one(*writes[0]).modified_count
    else:
        written = jobs.bulk_write([UpdateOne(*write) for write in writes], ordered=False).modified_count
    finished = [job for job, _ in results]
    if written != len(finished):
        # Some were canceled meanwhile: ours are those finished by this very write.
        ours = {
            d["_id"]
            for d in jobs.find({"_id": {"$in": [job.id for job in finished]}, "completed_at": stamp})
            if d["status"] != CANCELED
        }
        finished = [job for job in finished if job.id in ours]
    for job in finished:
        job.finish_state = states[job.id]
    return finished


def job_workers() -> set[str]:
    """The Celery nodes recorded as running some prediction job now."""
    return workers_running(PredictionJob)


def jobs_orphan(worker: str, held: list[str], **judged) -> list[str]:
    """The prediction jobs of `worker` that no live process of it holds, marked orphaned
    (base.orphans_mark says which, and how a live worker is `judged`); their ids, to
    publish again."""
    return orphans_mark(PredictionJob, worker, held, **judged)
