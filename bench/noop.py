"""The floor under every scenario: a Celery task that does nothing, on the platform's Redis.

Its Celery settings are the platform's own (every CELERY_* name of myproject/settings.py:
JSON, late acks, prefetch 1, task events), its worker the Procfile's predict worker with
another app and queue, and completion is told the way the platform tells it: a Redis
pub/sub message that the waiting client sleeps on. What the platform adds on top (Django,
MongoDB, the model) is then exactly the gap between a scenario and this.

Importing the settings imports the myproject package, and with it the platform's Celery
signal handlers (myproject/celery.py): they run in this worker too.

Run as a worker: celery -A bench.noop worker --queues bench-noop ...
"""

import threading
import time
import uuid

import redis
from celery import Celery

from myproject import settings as platform_settings

from .stack import NOOP_QUEUE

DONE_CHANNEL = "bench-noop-done"

app = Celery("bench_noop")
app.config_from_object(platform_settings, namespace="CELERY")
app.conf.update(
    task_default_queue=NOOP_QUEUE,
    task_routes={"bench.noop": {"queue": NOOP_QUEUE}},
    beat_schedule={},
    beat_scheduler="celery.beat:PersistentScheduler",
)
_client: redis.Redis | None = None


def redis_client() -> redis.Redis:
    # As workers/events.py: one client per process, made after the fork.
    global _client
    if _client is None:
        _client = redis.Redis.from_url(
            platform_settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5
        )
    return _client


@app.task(name="bench.noop")
def noop(channel: str) -> None:
    redis_client().publish(channel, "finished")


def roundtrip(n: int) -> list[float]:
    """Seconds from sending a task to hearing it finished, n times in a row (one client)."""
    seconds = []
    for _ in range(n):
        task_id = str(uuid.uuid4())
        channel = f"bench-noop:{task_id}"
        pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
        started = time.perf_counter()
        # Subscribed before sending, as the platform's waiter subscribes before re-reading its job.
        pubsub.subscribe(channel)
        noop.apply_async(args=[channel], task_id=task_id, retry=True)
        while pubsub.get_message(timeout=5.0) is None:
            if time.perf_counter() - started > 30:
                raise TimeoutError("a no-op task did not finish within 30 s")
        seconds.append(time.perf_counter() - started)
        pubsub.close()
    return seconds


def throughput(n: int) -> dict:
    """n no-op tasks sent back to back (from a thread) while this thread counts their finish
    messages: tasks/s from the first send to the last finish."""
    pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(DONE_CHANNEL)
    sent = {}

    def send():
        for _ in range(n):
            noop.apply_async(args=[DONE_CHANNEL], retry=True)
        sent["s"] = time.perf_counter() - started

    started = time.perf_counter()
    sender = threading.Thread(target=send)
    sender.start()
    heard, deadline = 0, started + 120
    while heard < n and time.perf_counter() < deadline:
        if pubsub.get_message(timeout=1.0) is not None:
            heard += 1
    elapsed = time.perf_counter() - started
    sender.join()
    pubsub.close()
    return {
        "tasks": n,
        "finished": heard,
        "seconds": round(elapsed, 3),
        "sent_per_s": round(n / sent["s"], 1),
        "tasks_per_s": round(heard / elapsed, 1),
    }
