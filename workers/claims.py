"""A job's first moment of running, claimed in Redis instead of MongoDB.

A one-row job's message carries what its worker needs (predictor/history/jobs.py,
job_message), so its first delivery reads nothing before it predicts. What keeps it from
running twice in that moment is one Redis `SET NX` here, not MongoDB's read and
compare-and-set: a job takes two MongoDB writes, its insert and its finish
(predictor/history/claims.py, claimed_finish).

The key `platform:job:claim:<id>` says who runs the job, for as long as a run may last:
- `{"worker", "pid", "at"}`: a first delivery runs it, and MongoDB does not know yet. A run
  that lasts PREDICTION_RUNNING_MARK_MS writes its claim to MongoDB as every other delivery
  does (`running`, its worker and process), and from then on MongoDB's claim, and everything
  built on it (workers/liveness.py, the sweeper), holds it.
- `{..., "peer_of"}` or `{..., "recorded"}`: a micro-batch took the job with its leader, or
  another delivery claimed it; MongoDB recorded that claim at once.
- `done`: the job ended (set with its finish's announcement, workers/events.py).

Only a first delivery takes the fast path: the submit's message, not redelivered, taken
within FRESH_S of the submit. Every
other delivery (a retry, a message Celery delivers again, a job the sweeper or the rescue
publishes again) claims in MongoDB as before, once no first delivery holds the job in Redis
(workers/tasks.py, predict_task): one whose holder may be alive looks again after
look_again_s(), by which time that run has ended, died or recorded its claim in MongoDB.
Redis out of reach: the fast path steps aside, and MongoDB's claim decides alone.
"""

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import redis
from django.conf import settings

from myproject.processes import process_alive

from .events import CLAIM_DONE as DONE
from .events import claim_key, redis_client

# Only a message this fresh takes the fast path: one that waited longer (a backlog, a fault)
# is claimed in MongoDB, so that Redis state lost meanwhile (a restart that kept the queue
# but not the last claims) can never let a job run twice.
FRESH_S = 1.0

OURS, ENDED, RECORDED, HELD, UNKNOWN = "ours", "ended", "recorded", "held", "unknown"


def claim_ttl_s() -> int:
    """A claim lives as long as its run may: a copy of the job's message (a publish retried)
    finds it held for the whole run."""
    return settings.PREDICTION_TIME_LIMIT + 30


def look_again_s() -> float:
    """When a delivery that found a first delivery's claim looks again: by then that run has
    ended, died, or written its claim to MongoDB (PREDICTION_RUNNING_MARK_MS, then the write)."""
    return (settings.PREDICTION_RUNNING_MARK_MS + settings.MONGODB_TIMEOUT_MS) / 1000 + 0.5


def fresh(message: dict) -> bool:
    """Whether a job's message is fresh enough for the fast path (FRESH_S)."""
    created = datetime.fromisoformat(message["created_at"])
    return (datetime.now(UTC) - created).total_seconds() < FRESH_S


@dataclass
class Holder:
    """The first delivery that holds a job in Redis."""

    worker: str
    pid: int
    at: float

    def gone(self, worker: str) -> bool:
        """Whether the holder is known to be gone: a process of this very node that is no
        more (or this process itself, whose earlier run is over). One elsewhere is not known."""
        return self.worker == worker and (self.pid == os.getpid() or not process_alive(self.pid))


def _value(worker: str, peer_of: str | None = None, recorded: bool = False) -> bytes:
    holder = {"worker": worker, "pid": os.getpid(), "at": time.time()}
    if peer_of:
        holder["peer_of"] = peer_of
    if recorded:
        holder["recorded"] = True
    return orjson.dumps(holder)


def _recorded(value: bytes) -> bool:
    """A key of a job whose claim MongoDB records: a batch's peer, or a later delivery's."""
    return b"peer_of" in value or b"recorded" in value


def claim(job_id: str, *, worker: str) -> str:
    """Claim a job's first delivery: OURS (run it), ENDED (its end is written), RECORDED
    (a micro-batch or another delivery runs it, as MongoDB records), HELD (another first
    delivery holds it) or UNKNOWN (Redis out of reach)."""
    key = claim_key(job_id)
    try:
        client = redis_client()
        if client.set(key, _value(worker), nx=True, ex=claim_ttl_s()):
            return OURS
        value = client.get(key)
    except redis.RedisError:
        return UNKNOWN
    if value == DONE:
        return ENDED
    if value is not None and _recorded(value):
        return RECORDED
    return HELD


def claim_peers(job_ids: list[str], *, worker: str, leader: str) -> list[str]:
    """Of `job_ids` (queued jobs a micro-batch would take), those now held here for it: a
    job a first delivery runs already is not taken. None when Redis is out of reach."""
    if not job_ids:
        return []
    value = _value(worker, peer_of=leader)
    try:
        pipe = redis_client().pipeline(transaction=False)
        for job_id in job_ids:
            pipe.set(claim_key(job_id), value, nx=True, ex=claim_ttl_s())
        taken = pipe.execute()
    except redis.RedisError:
        return []
    return [job_id for job_id, ok in zip(job_ids, taken, strict=True) if ok]


def mark_recorded(job_ids: list[str], *, worker: str) -> None:
    """Jobs this delivery claimed in MongoDB: a first delivery of any of them (a copy of its
    message) then runs nothing."""
    if not job_ids:
        return
    value = _value(worker, recorded=True)
    try:
        pipe = redis_client().pipeline(transaction=False)
        for job_id in job_ids:
            pipe.set(claim_key(job_id), value, ex=claim_ttl_s())
        pipe.execute()
    except redis.RedisError:
        pass  # a first delivery's copy then finds MongoDB's claim when it writes its end


def holder(job_id: str) -> Holder | None:
    """The first delivery holding the job in Redis, unknown to MongoDB; None when there is
    none (or Redis is out of reach: MongoDB's claim decides then)."""
    try:
        value = redis_client().get(claim_key(job_id))
    except redis.RedisError:
        return None
    if value is None or value == DONE:
        return None
    if _recorded(value):
        return None  # MongoDB records the claim
    found = orjson.loads(value)
    return Holder(found["worker"], found["pid"], found["at"])


def running_since(job_id: str) -> float | None:
    """When a worker took the job, while MongoDB still says `queued` (epoch seconds)."""
    found = holder(job_id)
    return found.at if found is not None else None


def release(job_ids: list[str]) -> None:
    """Give up the Redis claims of a run that ends without writing its jobs' ends (MongoDB
    failed): the retry claims them in MongoDB, and must not find them held."""
    try:
        redis_client().delete(*[claim_key(job_id) for job_id in job_ids])
    except redis.RedisError:
        pass  # the retry then looks again after look_again_s()
