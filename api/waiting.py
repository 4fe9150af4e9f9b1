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

from myproject import metrics
from predictor import history
from workers.events import finish_state, finished_channel, redis_client

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
# Set once this web process is told to stop (a deploy, a reload: gunicorn's SIGTERM, see
# myproject/gunicorn_conf.py). A wait may last MAX_WAIT_S, longer than the process is given
# to finish its requests (graceful_timeout there): held to its end, it would be cut off
# with no answer when the worker exits. So the waits it holds end at once, each answering
# the job as it is (202 and a Location to poll while unfinished), and new ones do not begin.
_process_stopping = threading.Event()


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


class _Waiter:
    """One waiting request: woken with the finish's fields when its message carried them."""

    __slots__ = ("event", "state")

    def __init__(self):
        self.event = threading.Event()
        self.state: dict | None = None


class _Finishes:
    """Every finish the workers announce, heard on one Redis subscription per web process
    (a pattern over all jobs' channels) and handed to the requests waiting on those jobs.
    A subscription per waiting request cost a Redis connection and two round trips each."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: dict[str, list[_Waiter]] = {}
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = threading.Event()

    def stop(self) -> None:
        """End the listening thread (at the next message or recheck); for orderly shutdowns."""
        self._stopping.set()

    def watch(self, job_id: str) -> _Waiter | None:
        """A waiter woken when the job's finish is announced; None while Redis is unreachable."""
        self._start()
        if not self._subscribed.wait(timeout=SUBSCRIBE_TIMEOUT_S):
            return None
        waiter = _Waiter()
        with self._lock:
            self._waiting.setdefault(job_id, []).append(waiter)
        return waiter

    def unwatch(self, job_id: str, waiter: _Waiter) -> None:
        with self._lock:
            waiters = self._waiting.get(job_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiting.pop(job_id, None)

    def _start(self) -> None:
        with self._lock:
            # Per process: a thread does not survive the fork of a web worker.
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            self._pid, self._subscribed = os.getpid(), threading.Event()
            self._thread = threading.Thread(target=self._listen, name="finishes", daemon=True)
            self._thread.start()

    def wake_all(self) -> None:
        with self._lock:
            waiters = [waiter for each in self._waiting.values() for waiter in each]
        for waiter in waiters:
            waiter.event.set()

    def _wake(self, job_id: str, message: bytes) -> None:
        with self._lock:
            waiters = list(self._waiting.get(job_id, ()))
        if not waiters:
            return  # another process's request, or one that stopped waiting
        state = finish_state(message)
        for waiter in waiters:
            waiter.state = state
            waiter.event.set()

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
                self.wake_all()
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=RECHECK_S)
                    if message is not None and message["type"] == "pmessage":
                        self._wake(message["channel"].decode().removeprefix(prefix), message["data"])
            except redis.RedisError as exc:
                self._subscribed.clear()
                if self._stopping.is_set():
                    return
                logger.warning("waiters lost their Redis subscription (%s); retrying", exc)
                time.sleep(RECONNECT_S)
            finally:
                pubsub.close()


_finishes = _Finishes()


def waits_end() -> None:
    """This process is stopping: every `Prefer: wait` it holds answers now, none begins."""
    _process_stopping.set()
    _finishes.wake_all()


class Waiting:
    """A waiter registered for a job after it is written and before it is queued, so that no
    finish can come before the watch: the job need not be read again before waiting.

        waiting = Waiting(seconds)
        job, created = prediction_submit(..., on_created=waiting.watch)
        job = waiting.wait(job)
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._job_id: str | None = None
        self._waiter: _Waiter | None = None
        self._slot = False

    def watch(self, job_id: str) -> None:
        if self.seconds <= 0 or _process_stopping.is_set() or not _waiters.acquire(blocking=False):
            return
        metrics.WAITERS.inc()
        self._slot, self._job_id = True, job_id
        self._waiter = _finishes.watch(job_id)

    def wait(self, job: history.JobView) -> history.JobView:
        """The job once finished, or as it is when the time is up (see job_wait)."""
        if self._job_id != job.id:
            self.close()
            return job_wait(job, self.seconds)  # not watched before queueing (a replayed job)
        try:
            if self._waiter is None:
                return history.job_get(job.id) or job
            return _wait(job, self._waiter, self.seconds, fresh=True)
        finally:
            self.close()

    def close(self) -> None:
        if self._waiter is not None:
            _finishes.unwatch(self._job_id, self._waiter)
            self._waiter = None
        if self._slot:
            self._slot = False
            _waiters.release()
            metrics.WAITERS.dec()


def job_wait(job: history.JobView, seconds: float) -> history.JobView:
    """The job once finished, or as it is when `seconds` pass (or no waiter slot is free,
    or Redis cannot tell us of finishes)."""
    if (
        job.status in history.FINISHED
        or seconds <= 0
        or _process_stopping.is_set()
        or not _waiters.acquire(blocking=False)
    ):
        return job
    metrics.WAITERS.inc()
    try:
        waiter = _finishes.watch(job.id)
        if waiter is None:
            return history.job_get(job.id) or job
        try:
            return _wait(job, waiter, seconds, fresh=False)
        finally:
            _finishes.unwatch(job.id, waiter)
    finally:
        _waiters.release()
        metrics.WAITERS.dec()


def _wait(job, waiter: _Waiter, seconds: float, *, fresh: bool):
    """`fresh`: the watch began before the job could finish, so `job` is current as it is;
    otherwise it is read again after watching (a finish between our read and the watch is
    not lost). Ends early when the process is stopping (waits_end): a waiter registered
    before that is woken by it, one registered after sees it here before waiting."""
    deadline = time.monotonic() + seconds
    if not fresh:
        job = history.job_get(job.id) or job
    while job.status not in history.FINISHED:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or _process_stopping.is_set():
            break
        waiter.event.wait(min(remaining, RECHECK_S))
        waiter.event.clear()
        state, waiter.state = waiter.state, None
        # The finish's message says what it wrote; without it (a recheck, a reconnect, a
        # message too big to carry it), MongoDB does.
        job = job.finished_as(state) if state else history.job_get(job.id) or job
    return job
