"""A prediction worker killed outright has its jobs published again within seconds (workers/
liveness.py); a live worker's jobs are never taken from it (predictor/history/claims.py)."""

import json
import os
import signal
import subprocess
import time
from datetime import timedelta
from types import SimpleNamespace

import psutil
import pytest
from django.core.cache import cache

from myproject.servers import stop, wait_until
from tests.clients import wait_for_job
from tests.processes import process_tree, signal_all, start_worker
from workers import liveness
from workers.tasks import rescue_orphaned_jobs_task

pytestmark = pytest.mark.pipeline


def _rescue(published: list) -> dict[str, list[str]]:
    """The rescue, noting in `published` every job (or training run) it publishes again."""
    return liveness.rescue_orphans(published.append, published.append)


def _never(item_id: str) -> None:
    pytest.fail(f"{item_id} published again")


def _held(history, stored_job, *, worker: str, pid: int):
    """A one-row job as its own task left it: running, claimed in process `pid` of `worker`."""
    job = stored_job(status="running", attempts=1, started_at=history.now())
    history.PredictionJob.objects(id=job.id).update_one(
        set__claimed_by=job.id, set__worker=worker, set__worker_pid=pid
    )
    return job


def _stored(history, job_id: str) -> dict:
    """The job's whole document as MongoDB holds it."""
    return history.PredictionJob.objects.get(id=job_id).to_mongo().to_dict()


def test_a_second_message_for_a_job_a_live_process_runs_leaves_it_there(history, stored_job):
    holder = subprocess.Popen(["sleep", "60"])
    try:
        job = _held(history, stored_job, worker="predict@here", pid=holder.pid)
        before = _stored(history, job.id)
        # Its own task id again (a re-publish while the first message still waited), on the
        # same node while the process runs it, or on another node: not claimable.
        assert history.job_claim(job.id, worker="predict@here") == (None, [])
        assert history.job_claim(job.id, worker="predict@elsewhere") == (None, [])
        # Left as the live process holds it: status, attempts, claim, holder, times, all of it.
        assert _stored(history, job.id) == before
    finally:
        holder.kill()
        holder.wait()
    # The process is gone (Celery delivers the task again to another pool process): taken over.
    claimed, _ = history.job_claim(job.id, worker="predict@here")
    assert claimed is not None
    assert claimed.attempts == 2
    stored = history.PredictionJob.objects.get(id=job.id)
    assert stored.worker_pid == os.getpid()


def test_a_killed_pool_process_not_yet_reaped_counts_as_gone(history, stored_job):
    holder = subprocess.Popen(["sleep", "60"])
    holder.send_signal(signal.SIGKILL)
    wait_until(
        lambda: psutil.Process(holder.pid).status() == psutil.STATUS_ZOMBIE, timeout=10, what="a zombie"
    )
    try:
        job = _held(history, stored_job, worker="predict@here", pid=holder.pid)
        claimed, _ = history.job_claim(job.id, worker="predict@here")
        assert claimed is not None
    finally:
        holder.wait()


def test_a_worker_killed_outright_has_its_jobs_run_by_another(
    history, live_worker, api, valid_input, model_version
):
    # Two-row jobs, held half a second each by this app (tests/chaos/slow_batches.py), so
    # the kill lands while one runs. Short heartbeats: the test waits for them to lapse. Their
    # runs write `running` to MongoDB at once (a first delivery holds its job in Redis until
    # then, workers/claims.py): the rescue of a worker's MongoDB claims is what is tested here.
    liveness.broker_data_lost()  # Redis's data is seen: what the rescue does here is the dead worker's
    doomed = start_worker(
        "predict",
        {"WORKER_HEARTBEAT_TTL_S": "4", "PREDICTION_RUNNING_MARK_MS": "1"},
        app="tests.chaos.slow_batches",
    )
    ids = []
    for _ in range(6):
        response = api.post(
            "/api/v1/predictions/", {"model": "breast_cancer", "inputs": [valid_input] * 2}, format="json"
        )
        assert response.status_code == 202
        ids.append(response.json()["id"])
    node = {"name": doomed.node}

    def doomed_runs_one():
        job = history.PredictionJob.objects(id__in=ids, status="running", worker=doomed.node).first()
        if job is not None:
            node["job"] = job.id
        return job is not None

    try:
        wait_until(doomed_runs_one, timeout=60, what="a job running on the doomed worker")
        # Alive and busy: nothing of its is taken.
        assert node["name"] not in liveness.rescue_orphans(_never, _never)
        signal_all(process_tree(doomed.pid), signal.SIGKILL)
        doomed.wait()
        killed_at = time.monotonic()

        rescued = []
        wait_until(
            lambda: rescued.append(rescue_orphaned_jobs_task()) or sum(rescued) > 0,
            timeout=60,
            what="the dead worker's jobs published again",
        )
        print(f"rescued {sum(rescued)} job(s) {time.monotonic() - killed_at:.1f} s after the kill")
    finally:
        if doomed.poll() is None:
            stop(doomed)

    finished = [wait_for_job(api, job_id, timeout=60) for job_id in ids]
    assert [job["status"] for job in finished] == ["succeeded"] * len(ids)
    struck = next(job for job in finished if job["id"] == node["job"])
    assert struck["attempts"] == 2
    assert struck["metrics"]["worker"] != node["name"]
    # Forgotten once rescued: the next sweeps do not publish its jobs again.
    assert node["name"].encode() not in cache.redis_client().smembers(liveness.WORKERS)
    assert rescue_orphaned_jobs_task() == 0


def test_a_worker_says_it_is_alive_and_takes_itself_off_when_stopped(mongo_server, purged_queues):
    worker = start_worker("predict", {})
    redis = cache.redis_client()
    try:
        wait_until(lambda: redis.exists(liveness.alive_key(worker.node)), timeout=20, what="a heartbeat")
        assert worker.node.encode() in redis.smembers(liveness.WORKERS)
    finally:
        stop(worker)
    # A warm shutdown: its tasks ended and Redis has its other messages back; nothing to rescue.
    assert not redis.exists(liveness.alive_key(worker.node))
    assert worker.node.encode() not in redis.smembers(liveness.WORKERS)


def test_jobs_a_dead_worker_took_from_the_queue_but_never_started_are_published_again(
    history, stored_job, purged_queues
):
    # The window between a worker taking a message and claiming its job: the job is still
    # queued, and Redis keeps the message as unacknowledged for an hour.
    taken, waiting, elsewhere = stored_job(), stored_job(), stored_job()
    liveness.heartbeat("predict@ghost", time.time())
    liveness.took("predict@ghost", taken.id)
    liveness.took("predict@ghost", elsewhere.id)
    cache.redis_client().delete(liveness.alive_key("predict@ghost"))  # as if its TTL lapsed
    # A job it took that a live worker's delivery has started meanwhile is not touched.
    liveness.heartbeat("predict@other", time.time() - 60)
    history.PredictionJob.objects(id=elsewhere.id).update_one(
        set__status="running",
        set__started_at=history.now(),
        set__worker="predict@other",
        set__worker_pid=os.getpid(),
    )

    published = []
    rescued = _rescue(published)

    assert rescued == {"predict@ghost": [taken.id]}
    assert published == [taken.id]
    assert history.job_get(taken.id).requeued_at is not None
    assert history.job_get(waiting.id).requeued_at is None
    assert history.job_get(elsewhere.id).requeued_at is None
    assert _rescue(published) == {}
    liveness.farewell("predict@other")


def test_a_worker_restarted_under_the_same_name_gets_back_what_its_earlier_run_held(
    history, stored_job, purged_queues
):
    # A container restarted in place: same node name, alive, but not the process that
    # claimed the first job (before it started) or took the second from the queue.
    restarted_at = time.time()
    earlier = stored_job(status="running", attempts=1)
    history.PredictionJob.objects(id=earlier.id).update_one(
        set__started_at=history.now() - timedelta(seconds=30), set__worker="predict@again"
    )
    taken_before = stored_job()
    cache.redis_client().zadd(liveness.held_key("predict@again"), {taken_before.id: restarted_at - 20})
    liveness.heartbeat("predict@again", restarted_at)
    # What the new run claimed and took is its own.
    current = stored_job(
        status="running", attempts=1, started_at=history.now(), worker="predict@again", worker_pid=os.getpid()
    )
    taken_now = stored_job()
    liveness.took("predict@again", taken_now.id)

    published = []
    try:
        assert _rescue(published) == {"predict@again": [earlier.id, taken_before.id]}
        assert published == [earlier.id, taken_before.id]
        assert history.job_get(current.id).requeued_at is None
        assert _rescue(published) == {}
    finally:
        liveness.farewell("predict@again")


def test_a_retry_of_the_jobs_own_task_takes_it_over_from_a_live_process(history, stored_job):
    # The task's earlier try claimed the job and then could not write its end (MongoDB
    # down): Celery retries the task, maybe in another pool process of the same worker,
    # while the first process lives on. The try has ended, so the retry runs the job.
    holder = subprocess.Popen(["sleep", "60"])
    try:
        job = _held(history, stored_job, worker="predict@here", pid=holder.pid)
        assert history.job_claim(job.id, worker="predict@here") == (None, [])
        claimed, _ = history.job_claim(job.id, worker="predict@here", held=1)
        assert claimed is not None
        assert claimed.attempts == 2
    finally:
        holder.kill()
        holder.wait()


def test_when_redis_lost_its_data_every_queued_job_is_published_again_at_once(
    history, live_worker, api, stored_job
):
    liveness.broker_data_lost()
    assert rescue_orphaned_jobs_task() == 0
    # Queued in MongoDB, its message gone with Redis's data (as the job here never had one).
    lost = stored_job(age_s=5)
    cache.redis_client().delete(liveness.EPOCH)  # Redis restarted empty

    assert rescue_orphaned_jobs_task() == 1
    assert wait_for_job(api, lost.id)["status"] == "succeeded"
    assert rescue_orphaned_jobs_task() == 0  # once: Redis's new data is marked seen


def test_a_live_workers_job_whose_pool_process_died_is_published_again(history, stored_job, purged_queues):
    # Its task went back to the queue when the process died and was taken by another worker,
    # which cannot tell that the process is gone: the node's own heartbeat can, since it
    # no longer lists the process.
    dead = subprocess.Popen(["true"])
    dead.wait()
    lost = _held(history, stored_job, worker="predict@alive", pid=dead.pid)
    running = _held(history, stored_job, worker="predict@alive", pid=os.getpid())
    published = []
    try:
        # Before its pool is known, a worker's heartbeat lists no processes: none is judged.
        liveness.heartbeat("predict@alive", time.time() - 60)
        assert _rescue(published) == {}
        assert published == []
        assert history.job_get(lost.id).requeued_at is None
        # Its pool known (Celery's prefork pool lists its processes so), this one only.
        liveness.pool_known(SimpleNamespace(info={"processes": [os.getpid()]}))
        liveness.heartbeat("predict@alive", time.time() - 60)
        assert _rescue(published) == {"predict@alive": [lost.id]}
        assert history.job_get(running.id).requeued_at is None
        # Published again, any delivery may take it, on any worker.
        claimed, _ = history.job_claim(lost.id, worker="predict@elsewhere")
        assert claimed is not None
    finally:
        liveness.pool_known(None)
        liveness.farewell("predict@alive")


def test_a_job_whose_message_a_dead_worker_popped_and_lost_is_published_again(
    history, stored_job, purged_queues
):
    # kombu takes a message off the queue (BRPOP) before it records it as unacknowledged:
    # a worker killed in between leaves a queued job whose message is nowhere in Redis.
    lost = stored_job(age_s=30)
    # Another queued job whose message Redis still holds, taken by some worker (it is in
    # kombu's unacknowledged hash, where a restart would restore it from).
    kept = stored_job(age_s=30)
    client = cache.redis_client()
    message = {"headers": {"id": kept.id, "task": liveness.PREDICT_TASK}, "body": ""}
    entry = json.dumps([message, "", "predict"])
    client.hset("unacked", "test-kept-tag", entry)
    try:
        liveness.heartbeat("predict@ghost", time.time())
        cache.redis_client().delete(liveness.alive_key("predict@ghost"))  # its TTL lapsed

        published = []
        rescued = _rescue(published)

        assert rescued == {"predict@ghost": [lost.id]}
        assert published == [lost.id]
        assert history.job_get(kept.id).requeued_at is None
        assert _rescue(published) == {}  # published once
    finally:
        client.hdel("unacked", "test-kept-tag")
