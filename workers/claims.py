"""A job's first moment of running, claimed in Redis instead of MongoDB.

A one-row job's message carries what its worker needs (predictor/history/jobs.py,
job_message), so its first delivery reads nothing before it predicts. What keeps it from
running twice in that moment is one Redis `SET NX` here, not MongoDB's read and
compare-and-set: a job takes two MongoDB writes, its insert and its finish
(predictor/history/claims.py, claimed_finish).

The key `platform:job:claim:<id>` says who runs the job:
- `{"worker", "pid", "at"}`: a first delivery runs it, and MongoDB does not know yet. The key
  lives CLAIM_TTL_S. A run that lasts PREDICTION_RUNNING_MARK_MS writes its claim to MongoDB
  as every other delivery does (`running`, its worker and process), and from then on
  MongoDB's claim, and everything built on it (workers/liveness.py, the sweeper), holds it.
- `{"worker", "pid", "at", "peer_of"}`: a micro-batch took the job with its leader; MongoDB
  recorded that claim at once (history.peers_claim).
- `done`: the job ended (set with its finish's announcement, workers/events.py).

Only a first delivery takes the fast path: the submit's message, not redelivered. Every
other delivery (a retry, a message Celery delivers again, a job the sweeper or the rescue
publishes again) claims in MongoDB as before, once no first delivery holds the job in Redis
(workers/tasks.py, predict_task): one whose holder may be alive looks again once the key
has expired, by which time that run has ended, died or recorded its claim in MongoDB.
Redis out of reach: the fast path steps aside, and MongoDB's claim decides alone.
"""

import os
import time
from dataclasses import dataclass

import orjson
import redis

from myproject.processes import process_alive

from .events import CLAIM_DONE as DONE
from .events import claim_key, redis_client

CLAIM_TTL_S = 5

OURS, ENDED, IN_BATCH, HELD, UNKNOWN = "ours", "ended", "in-batch", "held", "unknown"


@dataclass
class Holder:
    """The delivery that holds a job in Redis, and for how much longer its key lives."""

    worker: str
    pid: int
    at: float
    peer_of: str | None
    ttl_s: float

    def gone(self, worker: str) -> bool:
        """Whether the holder is known to be gone: a process of this very node that is no
        more (or this process itself, whose earlier run is over). One elsewhere is not known."""
        return self.worker == worker and (self.pid == os.getpid() or not process_alive(self.pid))


def _value(worker: str, peer_of: str | None = None) -> bytes:
    holder = {"worker": worker, "pid": os.getpid(), "at": time.time()}
    if peer_of:
        holder["peer_of"] = peer_of
    return orjson.dumps(holder)


def claim(job_id: str, *, worker: str) -> str:
    """Claim a job's first delivery: OURS (run it), ENDED (its end is written), IN_BATCH (a
    micro-batch runs it, as MongoDB records), HELD (another delivery holds it) or UNKNOWN
    (Redis out of reach)."""
    key = claim_key(job_id)
    try:
        client = redis_client()
        if client.set(key, _value(worker), nx=True, ex=CLAIM_TTL_S):
            return OURS
        value = client.get(key)
    except redis.RedisError:
        return UNKNOWN
    if value == DONE:
        return ENDED
    if value is not None and b"peer_of" in value:
        return IN_BATCH
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
            pipe.set(claim_key(job_id), value, nx=True, ex=CLAIM_TTL_S)
        taken = pipe.execute()
    except redis.RedisError:
        return []
    return [job_id for job_id, ok in zip(job_ids, taken, strict=True) if ok]


def holder(job_id: str) -> Holder | None:
    """The first delivery holding the job in Redis, unknown to MongoDB; None when there is
    none (or Redis is out of reach: MongoDB's claim decides then)."""
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.get(claim_key(job_id))
        pipe.pttl(claim_key(job_id))
        value, ttl_ms = pipe.execute()
    except redis.RedisError:
        return None
    if value is None or value == DONE:
        return None
    found = orjson.loads(value)
    if found.get("peer_of"):
        return None  # MongoDB recorded the batch's claim
    return Holder(found["worker"], found["pid"], found["at"], None, max(ttl_ms, 0) / 1000)


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
        pass  # they expire within CLAIM_TTL_S
