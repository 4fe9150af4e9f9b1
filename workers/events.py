"""What a job's progress sets off: a Redis message for clients waiting on it (Prefer: wait)."""

import redis
from django.conf import settings

_client: redis.Redis | None = None


def finished_channel(job_id: str) -> str:
    return f"prediction-finished:{job_id}"


def redis_client() -> redis.Redis:
    # One client (and pool) per process, made after any fork.
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    return _client


def job_finished_announce(job_id: str) -> None:
    try:
        redis_client().publish(finished_channel(job_id), "finished")
    except redis.RedisError:
        # Waiters re-read MongoDB every few seconds anyway; the result is already stored.
        pass
