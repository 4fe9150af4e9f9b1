"""What a job's progress sets off: a Redis message for clients waiting on it (Prefer: wait)."""

from datetime import datetime

import orjson
import redis
from django.conf import settings

from predictor.history.jobs import FINISH_FIELDS

# A finish's message carries what the finish wrote (FINISH_FIELDS), so that a waiting request
# answers without reading the job back from MongoDB (api/waiting.py). A message over
# MAX_STATE_BYTES (a big batch's output) carries none: its waiters read the job instead.
MAX_STATE_BYTES = 256 * 1024
_DATETIMES = ("started_at", "completed_at")

_client: redis.Redis | None = None


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
        redis_client().publish(finished_channel(job_id), finish_message(state))
    except redis.RedisError:
        # Waiters re-read MongoDB every few seconds anyway; the result is already stored.
        pass
