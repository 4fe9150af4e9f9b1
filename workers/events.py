"""What a job's progress sets off (job_event): its count in the metrics, a Redis message for
clients waiting on it (Prefer: wait), and its webhook's delivery, handed to the notifier."""

import logging
from datetime import datetime

import orjson
import redis
from celery import current_app
from django.conf import settings
from kombu.exceptions import OperationalError

from myproject import metrics
from predictor import history, webhooks
from predictor.history.jobs import FINISH_FIELDS

logger = logging.getLogger(__name__)

# The notifier's task, found by its name: workers/tasks.py, which defines it, imports this module.
DELIVER_WEBHOOK_TASK = "workers.tasks.deliver_webhook_task"

# A finish's message carries what the finish wrote (FINISH_FIELDS), so that a waiting request
# answers without reading the job back from MongoDB (api/waiting.py). A message over
# MAX_STATE_BYTES (a big batch's output) carries none: its waiters read the job instead.
MAX_STATE_BYTES = 256 * 1024
_DATETIMES = ("started_at", "completed_at")

_client: redis.Redis | None = None

# A job's claim in Redis (workers/claims.py), which its end's announcement turns into
# CLAIM_DONE for STALE_JOB_SECONDS: a first delivery of an ended job (a canceled one still in
# the queue) then runs nothing. About 100 bytes a job: 6 MB at 100 jobs a second.
CLAIM_DONE = b"done"


def claim_key(job_id: str) -> str:
    return f"platform:job:claim:{job_id}"


def finished_channel(job_id: str) -> str:
    return f"prediction-finished:{job_id}"


def redis_client() -> redis.Redis:
    # One client (and pool) per process, made after any fork.
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    return _client


def finish_message(state: dict | None) -> bytes:
    """The message announcing a finish: the finished fields (as stored) as JSON, or b"finished"."""
    if state is not None:
        message = orjson.dumps({name: state.get(name) for name in FINISH_FIELDS})
        if len(message) <= MAX_STATE_BYTES:
            return message
    return b"finished"


def finish_state(message: bytes) -> dict | None:
    """The finished fields a message carries, as a document of MongoDB would hold them."""
    if not message.startswith(b"{"):
        return None
    state = orjson.loads(message)
    for name in _DATETIMES:
        if state.get(name):
            state[name] = datetime.fromisoformat(state[name])
    return state


def job_finished_announce(job_id: str, state: dict | None = None) -> None:
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.set(claim_key(job_id), CLAIM_DONE, ex=settings.STALE_JOB_SECONDS)
        pipe.publish(finished_channel(job_id), finish_message(state))
        pipe.execute()
    except redis.RedisError:
        # Waiters re-read MongoDB every few seconds anyway; the result is already stored.
        pass


def job_event(event: str, job) -> None:
    """A job started or finished (however: run, failed, canceled): count it, wake its
    waiters and call its webhook. Every finish comes here exactly once (a worker's run, a
    cancel, the sweeper's), so here it is counted."""
    if event == "completed":
        metrics.job_finished(job)
        job_finished_announce(job.id, job.finish_state)  # waiters that miss it poll MongoDB
    if job.webhook and event in (job.webhook_events_filter or webhooks.EVENTS):
        webhook_publish(job.id, event)


def webhook_publish(job_id: str, event: str, *, handed=None) -> None:
    """Hand a delivery to the notifier. The end's ("completed") is in the job's outbox until
    then: when Redis cannot be reached, it stays there for the rescue sweep, and this job's
    worker goes on with the other jobs of its batch."""
    # The registered task itself (its queue, its options): every process that hands one over
    # has workers/tasks.py imported (a worker's tasks; the web's api/services.py).
    deliver_webhook_task = current_app.tasks[DELIVER_WEBHOOK_TASK]
    try:
        deliver_webhook_task.apply_async(args=[job_id, event], retry=True)
    except OperationalError as exc:
        logger.warning("webhook %s of job %s not handed over (Redis: %s); the sweep will", event, job_id, exc)
        return
    if event == "completed":
        try:
            (handed or history.webhook_handed)(job_id)
        except history.HistoryUnavailable:
            pass  # published twice at worst; receivers de-duplicate by webhook-id
