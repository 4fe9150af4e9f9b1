"""Prefer: wait — hold a request until its job finishes, without polling MongoDB in a loop.

The worker publishes on a Redis channel when a job finishes; a waiting request sleeps on
that channel. Each waiter holds one web thread, so a process admits at most
PREDICTION_MAX_WAITERS of them and answers the rest at once (202, as without the header).
"""

import re
import threading
import time

import redis
from django.conf import settings

from predictor import history
from workers.events import finished_channel, redis_client

_PREFER_WAIT = re.compile(r"(?:^|[;,\s])wait\s*=\s*(\d+)", re.IGNORECASE)
# A lost message costs at most this long: MongoDB is read again this often while waiting.
RECHECK_S = 5.0
MAX_WAIT_S = 60

_waiters = threading.BoundedSemaphore(settings.PREDICTION_MAX_WAITERS)


def prefer_wait_seconds(header: str | None) -> int:
    """Seconds asked for by `Prefer: wait=N` (capped at 60), or 0.

    As RFC 7240 has it, a preference is honoured as far as the server can: any N over 60,
    however many digits, waits 60 s. int() is never given the digits (over 4,300 it raises).
    """
    match = _PREFER_WAIT.search(header or "")
    if not match:
        return 0
    digits = match.group(1).lstrip("0")
    return MAX_WAIT_S if len(digits) > len(str(MAX_WAIT_S)) else min(int(digits or "0"), MAX_WAIT_S)


def job_wait(job: history.JobView, seconds: float) -> history.JobView:
    """The job once finished, or as it is when `seconds` pass (or no waiter slot is free)."""
    if job.status in history.FINISHED or seconds <= 0 or not _waiters.acquire(blocking=False):
        return job
    try:
        return _wait(job, seconds)
    except redis.RedisError:
        return history.job_get(job.id) or job
    finally:
        _waiters.release()


def _wait(job, seconds: float):
    deadline = time.monotonic() + seconds
    pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(finished_channel(job.id))
        # Read after subscribing: a finish between our read and the subscription is not lost.
        job = history.job_get(job.id) or job
        while job.status not in history.FINISHED:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            pubsub.get_message(timeout=min(remaining, RECHECK_S))
            job = history.job_get(job.id) or job
        return job
    finally:
        pubsub.close()
