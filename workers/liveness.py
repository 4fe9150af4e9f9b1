"""Which workers are alive, and the prediction jobs and training runs a dead one held.

A worker killed outright (SIGKILL, its container or host gone) leaves behind the jobs or
training runs it was running (status `running`, `worker` naming it) and the task messages it
had taken from the queue but not yet run (still `queued` in MongoDB, while Redis holds their
messages as unacknowledged for the visibility timeout, an hour). Without help both wait for
slow fallbacks: the sweeper's hard-time-limit and stale-job cutoffs (for a training run, the
hard time limit is TRAINING_TIME_LIMIT, fifteen minutes by default).

So each worker says it is alive, and what it took:
- on every Celery heartbeat (every 2 s, in the worker's main process) it sets
  `platform:worker:alive:<node>` to the time it started, the time of the beat and the ids
  of its pool processes, for WORKER_HEARTBEAT_TTL_S seconds, and lists itself in
  `platform:workers`;
- on every prediction or training task message it receives, it adds the job's or the run's
  id to its `platform:worker:held:<node>`, a sorted set by time (trimmed on the heartbeat).

`rescue_orphans` (beat, every ORPHAN_SWEEP_SECONDS) takes the nodes with no alive key,
asks them once more with Celery's own ping (a live worker answers from its main process
however busy its pool is, so a heartbeat lost with Redis's data never condemns one),
and for each that does not answer marks its running jobs and training runs orphaned and
re-publishes them with the queued ones it held. A worker restarted under the same node name
(a container restarted in place) is alive, but what its earlier run held is not: the jobs
and runs it recorded as running, or took, before it started are rescued the same way; and
so are those a live worker's pool process held when it died, once its heartbeat no longer
lists that process (Celery delivers such a task again, but a worker elsewhere cannot tell
that the process is gone, so it leaves the job or run alone).

A live worker's job or run is never taken from it: the claims (predictor/history/claims.py,
predictor/history/trainings.py) let a second message for one that a live process runs pass by.
"""

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from predictor import history

log = logging.getLogger(__name__)

WORKERS = "platform:workers"
# Set once and never deleted: absent, Redis has lost its data (restarted without it).
EPOCH = "platform:broker:epoch"
PREDICT_TASK = "workers.tasks.predict_task"
TRAIN_TASK = "workers.tasks.train_task"
# The tasks whose messages a worker notes as taken (their task id is the job's or the run's id).
BATCH_CHUNK_TASK = "workers.tasks.batch_chunk_task"
HELD_TASKS = (PREDICT_TASK, TRAIN_TASK, BATCH_CHUNK_TASK)


def alive_key(node: str) -> str:
    return f"platform:worker:alive:{node}"


def held_key(node: str) -> str:
    return f"platform:worker:held:{node}"


def _redis():
    return cache.redis_client()


# The pool whose processes run this worker's tasks (set in the worker's main process once it
# is ready, myproject/celery.py); its process ids go with every heartbeat.
_pool = None


def pool_known(pool) -> None:
    global _pool
    _pool = pool


def _pool_pids() -> list[int] | None:
    """The processes that run tasks here: a prefork pool lists them, a thread pool runs them
    in this very process. None before the pool is known: nothing is judged by them then."""
    if _pool is None:
        return None
    info = _pool.info
    return list(info["processes"]) if "processes" in info else [os.getpid()]


def heartbeat(node: str, since: float) -> None:
    """This worker, running since `since` (epoch seconds), is alive, with these pool
    processes; forget what it took longer ago than the stale-job cutoff (the sweeper
    re-publishes such jobs anyway)."""
    ttl = settings.WORKER_HEARTBEAT_TTL_S
    seen = json.dumps({"since": since, "at": time.time(), "pids": _pool_pids()})
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.set(alive_key(node), seen, ex=ttl)
        pipe.sadd(WORKERS, node)
        pipe.zremrangebyscore(held_key(node), "-inf", time.time() - settings.STALE_JOB_SECONDS)
        pipe.execute()
    except RedisError as exc:  # the consumer is reconnecting too; the next beat says it
        log.debug("heartbeat not recorded: %s", exc)


def took(node: str, job_id: str) -> None:
    """This worker took the task message of the job (or training run) from the queue."""
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.zadd(held_key(node), {job_id: time.time()})
        pipe.expire(held_key(node), settings.STALE_JOB_SECONDS)
        pipe.execute()
    except RedisError as exc:
        log.debug("job %s not recorded as taken: %s", job_id, exc)


@dataclass
class Seen:
    """A live worker by its last heartbeat: when it started, when it beat, its pool processes."""

    since: float
    at: float
    pids: list[int] | None


def _seen(nodes: list[str]) -> dict[str, Seen | None]:
    """Each node's last heartbeat; None for a silent node that does not answer a ping either
    (gone). Nodes that answer only the ping are left out: alive, nothing more known."""
    found = dict(zip(nodes, _redis().mget([alive_key(node) for node in nodes]), strict=True)) if nodes else {}
    silent = [node for node, value in found.items() if value is None]
    if silent:
        answered = current_app.control.ping(destination=silent, timeout=settings.WORKER_PING_TIMEOUT_S)
        for name in {name for reply in answered for name in reply}:
            del found[name]
    return {node: None if value is None else Seen(**json.loads(value)) for node, value in found.items()}


def rescue_orphans(enqueue, enqueue_training, enqueue_chunk=None) -> dict[str, list[str]]:
    """Re-publish the prediction jobs (with `enqueue`), training runs (`enqueue_training`) and
    batch chunks (`enqueue_chunk`, when given) no live process holds: those of every worker
    found gone; those a restarted worker's earlier run (same node name, started before it)
    left; and those a live worker's pool process held when it died, if its task was
    delivered again to another worker (which cannot tell that process is gone). Returns
    {node: ids re-published, jobs, runs, then chunks} for each node gone or with any."""
    listed = {node.decode() for node in _redis().smembers(WORKERS)}
    # Redis may have lost its list; MongoDB still names them.
    running = history.job_workers() | history.training_workers()
    if enqueue_chunk is not None:
        running |= history.chunk_workers()
    rescued = {}
    for node, seen in sorted(_seen(sorted(listed | running)).items()):
        if (
            seen is not None
            and node not in running
            and not _redis().zcount(held_key(node), "-inf", seen.since)
        ):
            continue  # alive, running nothing, and nothing of an earlier run of it is left
        before = time.time() if seen is None else seen.since
        held = [item_id.decode() for item_id in _redis().zrangebyscore(held_key(node), "-inf", before)]
        judged = {}  # a gone worker: all it held
        if seen is not None:  # a live one: what an earlier run of it, or a process now gone, held
            judged = {"started_before": seen.since, "live_pids": seen.pids, "pids_seen_at": seen.at}
        ids = history.jobs_orphan(node, held, **judged)
        runs = history.trainings_orphan(node, held, **judged)
        chunks = history.chunks_orphan(node, held, **judged) if enqueue_chunk is not None else []
        for job_id in ids:
            enqueue(job_id)
        for run_id in runs:
            enqueue_training(run_id)
        for chunk_id in chunks:
            enqueue_chunk(chunk_id)
        pipe = _redis().pipeline(transaction=False)
        if seen is None:
            pipe.srem(WORKERS, node)
            pipe.delete(held_key(node))
        else:
            pipe.zremrangebyscore(held_key(node), "-inf", seen.since)
        pipe.execute()
        lost = []
        if seen is None:
            lost = lost_messages(enqueue, enqueue_training, enqueue_chunk, before=time.time())
            if lost:
                log.warning("%d task messages lost when worker %s died published again", len(lost), node)
        if seen is None or ids or runs or chunks:
            rescued[node] = ids + runs + chunks + lost
            log.warning(
                "worker %s %s: %d of its jobs and %d of its training runs published again",
                node,
                "is gone" if seen is None else "lost processes or restarted",
                len(ids),
                len(runs),
                extra={"worker": node},
            )
    return rescued


# kombu's queue keys in Redis: the queue's own name, and one per priority step above 0.
_PRIORITY_SEP, _PRIORITY_STEPS = "\x06\x16", (3, 6, 9)
# A job recorded this recently may still be on its way to Redis (the web publishes it
# just after it writes it).
LOST_MESSAGE_GRACE_S = 5


def lost_messages(enqueue, enqueue_training, enqueue_chunk=None, *, before: float) -> list[str]:
    """Publish again the jobs and training runs queued since before `before` (epoch seconds)
    whose task message Redis no longer holds: in no queue, and not taken as unacknowledged.

    kombu's Redis transport takes a message off its queue (BRPOP) before it records it as
    unacknowledged; a worker killed in between loses the message, which nothing but the
    stale sweep (STALE_JOB_SECONDS) would publish again. Looked for when a worker is found
    gone, so the cost (reading the queues) is paid then only. A message a live worker is
    taking at that moment may be counted lost: its job then has two messages, and the claims
    let only one run it."""
    cutoff = datetime.fromtimestamp(before - LOST_MESSAGE_GRACE_S, UTC)
    present = _task_ids_in_broker()
    published = []
    kinds = [(history.PredictionJob, "predict", enqueue), (history.TrainingRun, "train", enqueue_training)]
    if enqueue_chunk is not None:
        kinds.append((history.BatchChunk, "batch", enqueue_chunk))
    for document, queue, publish in kinds:
        queued = history.queued_before(document, cutoff, limit=100_000)
        missing = [item_id for item_id in queued if item_id not in present.get(queue, set())]
        for item_id in history.requeue_queued(document, missing):
            publish(item_id)
            published.append(item_id)
    return published


def _task_ids_in_broker() -> dict[str, set[str]]:
    """{queue: task ids of the messages it holds} for the predict, train and batch queues, each
    counting the messages taken from it and not yet acknowledged."""
    client, found = _redis(), {}
    for queue in ("predict", "train", "batch"):
        ids = found.setdefault(queue, set())
        for key in [queue, *(f"{queue}{_PRIORITY_SEP}{step}" for step in _PRIORITY_STEPS)]:
            for raw in client.lrange(key, 0, -1):
                ids.add(json.loads(raw)["headers"]["id"])
    for raw in client.hvals("unacked"):
        message, _exchange, routing_key = json.loads(raw)
        found.setdefault(routing_key, set()).add(message["headers"]["id"])
    return found


def broker_data_lost() -> bool:
    """Whether Redis lost its data since the last look (the first look ever counts too):
    every task message it held is gone, so what MongoDB says is queued must be published
    again. Marks the data as seen."""
    return bool(_redis().set(EPOCH, repr(time.time()), nx=True))


def farewell(node: str) -> None:
    """This worker stops on purpose (warm shutdown): its running tasks ended and Redis has
    its untouched messages back, so there is nothing to rescue."""
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.srem(WORKERS, node)
        pipe.delete(alive_key(node), held_key(node))
        pipe.execute()
    except RedisError as exc:
        log.debug("farewell not recorded: %s", exc)
