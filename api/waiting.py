"""Prefer: wait — hold a request until its job finishes, without polling MongoDB in a loop.

The worker publishes on a Redis channel when a job finishes; each web process listens to
all of them on one subscription, and a waiting request sleeps until its job's comes. Each
waiter holds one web thread, so a process admits at most PREDICTION_MAX_WAITERS of them
and answers the rest at once (202, as without the header).
"""

import logging
import os
import re
import threading
import time

import redis
from django.conf import settings

from predictor import history
from workers.events import finished_channel, redis_client

_PREFER_WAIT = re.compile(r"(?:^|[;,\s])wait\s*=\s*(\d+)", re.IGNORECASE)
logger = logging.getLogger(__name__)
# A lost message costs at most this long: MongoDB is read again this often while waiting.
RECHECK_S = 5.0
# How long a request waits for its process's subscription to be (re)made before it gives
# up waiting (and answers 202 at once, as without the header).
SUBSCRIBE_TIMEOUT_S = 1.0
RECONNECT_S = 1.0
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


class _Finishes:
    """Every finish the workers announce, heard on one Redis subscription per web process
    (a pattern over all jobs' channels) and handed to the requests waiting on those jobs.
    A subscription per waiting request cost a Redis connection and two round trips each."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: dict[str, list[threading.Event]] = {}
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = threading.Event()

    def stop(self) -> None:
        """End the listening thread (at the next message or recheck); for orderly shutdowns."""
        self._stopping.set()

    def watch(self, job_id: str) -> threading.Event | None:
        """An event set when the job's finish is announced; None while Redis is unreachable."""
        self._start()
        if not self._subscribed.wait(timeout=SUBSCRIBE_TIMEOUT_S):
            return None
        event = threading.Event()
        with self._lock:
            self._waiting.setdefault(job_id, []).append(event)
        return event

    def unwatch(self, job_id: str, event: threading.Event) -> None:
        with self._lock:
            events = self._waiting.get(job_id, [])
            if event in events:
                events.remove(event)
            if not events:
                self._waiting.pop(job_id, None)

    def _start(self) -> None:
        with self._lock:
            # Per process: a thread does not survive the fork of a web worker.
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            self._pid, self._subscribed = os.getpid(), threading.Event()
            self._thread = threading.Thread(target=self._listen, name="finishes", daemon=True)
            self._thread.start()

    def _wake(self, job_ids=None) -> None:
        with self._lock:
            events = [
                e for job_id, es in self._waiting.items() if job_ids is None or job_id in job_ids for e in es
            ]
        for event in events:
            event.set()

    def _listen(self) -> None:
        prefix = finished_channel("")
        while not self._stopping.is_set():
            pubsub = redis_client().pubsub()
            try:
                pubsub.psubscribe(prefix + "*")
                while pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_S) is None:
                    pass  # until Redis confirms: from then on no announcement is missed
                self._subscribed.set()
                # Anything may have finished while we were not listening: every waiter reads again.
                self._wake()
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=RECHECK_S)
                    if message is not None and message["type"] == "pmessage":
                        self._wake({message["channel"].decode().removeprefix(prefix)})
            except redis.RedisError as exc:
                self._subscribed.clear()
                if self._stopping.is_set():
                    return
                logger.warning("waiters lost their Redis subscription (%s); retrying", exc)
                time.sleep(RECONNECT_S)
            finally:
                pubsub.close()


_finishes = _Finishes()


def job_wait(job: history.JobView, seconds: float) -> history.JobView:
    """The job once finished, or as it is when `seconds` pass (or no waiter slot is free,
    or Redis cannot tell us of finishes)."""
    if job.status in history.FINISHED or seconds <= 0 or not _waiters.acquire(blocking=False):
        return job
    try:
        event = _finishes.watch(job.id)
        if event is None:
            return history.job_get(job.id) or job
        try:
            return _wait(job, event, seconds)
        finally:
            _finishes.unwatch(job.id, event)
    finally:
        _waiters.release()


def _wait(job, event: threading.Event, seconds: float):
    deadline = time.monotonic() + seconds
    # Read after watching: a finish between our read and the watch is not lost.
    job = history.job_get(job.id) or job
    while job.status not in history.FINISHED:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        event.wait(min(remaining, RECHECK_S))
        event.clear()
        job = history.job_get(job.id) or job
    return job
