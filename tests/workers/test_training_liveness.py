"""A trainer killed outright has its training run trained again within seconds, not after
TRAINING_TIME_LIMIT (workers/liveness.py); a run a live trainer process holds is never taken
from it, by the rescue or by a second message (predictor/history/trainings.py)."""

import json
import os
import signal
import subprocess
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.cache import cache

from myproject.servers import stop, wait_until
from predictor.models import ModelVersion
from predictor.training import stale_cutoff, training_execute, training_request
from tests.processes import log_tail, process_tree, shared_database_url, signal_all, start_worker
from workers import liveness
from workers.tasks import rescue_orphaned_jobs_task, train_task, training_enqueue

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]


# --- The claim and the rescue, on runs written straight to MongoDB ----------------------------


def _stored_run(history, **fields):
    """A breast_cancer training run, never published, with these fields stored on it."""
    run = history.training_create(model="breast_cancer", params={}, trigger="api", requested_by=1)
    if fields:
        history.TrainingRun.objects(id=run.id).update_one(**{f"set__{name}": v for name, v in fields.items()})
    return history.training_get(run.id)


def _running(history, *, worker: str | None, pid: int | None, age_s: float = 0, attempts: int = 1):
    return _stored_run(
        history,
        status="running",
        attempts=attempts,
        worker=worker,
        worker_pid=pid,
        started_at=history.now() - timedelta(seconds=age_s),
    )


def _claim(history, run_id: str, worker: str):
    return history.training_claim(
        run_id, stale_before=stale_cutoff(settings.TRAINING_TIME_LIMIT), worker=worker
    )


def _stored(history, run_id: str) -> dict:
    """The run's whole document as MongoDB holds it."""
    return history.TrainingRun.objects.get(id=run_id).to_mongo().to_dict()


def _rescue(published: list) -> dict[str, list[str]]:
    """The rescue, noting in `published` every training run (or job) it publishes again."""
    return liveness.rescue_orphans(published.append, published.append)


def test_a_second_message_for_a_run_a_live_process_trains_leaves_it_there(history):
    holder = subprocess.Popen(["sleep", "60"])
    try:
        run = _running(history, worker="train@here", pid=holder.pid)
        before = _stored(history, run.id)
        # Its own task again, on the same node while the process trains it, or on another
        # node (which cannot tell whether the process lives): not claimable.
        assert _claim(history, run.id, "train@here") is None
        assert _claim(history, run.id, "train@elsewhere") is None
        # Left as the live process holds it: status, attempts, holder, times, all of it.
        assert _stored(history, run.id) == before
    finally:
        holder.kill()
        holder.wait()
    # Elsewhere still not: only the rescue, which has the node's heartbeat, can judge.
    assert _claim(history, run.id, "train@elsewhere") is None
    # Here the process is gone (Celery delivers the task again when a pool process dies).
    claimed = _claim(history, run.id, "train@here")
    assert claimed is not None
    assert (claimed.attempts, claimed.worker, claimed.worker_pid) == (2, "train@here", os.getpid())
    # Claimed by this process, the run is held until the claim is judged again.
    assert _claim(history, run.id, "train@elsewhere") is None


def test_a_run_claimed_before_holders_were_recorded_waits_for_the_hard_time_limit(history):
    run = _running(history, worker=None, pid=None)
    assert _claim(history, run.id, "train@here") is None
    old = _running(history, worker=None, pid=None, age_s=settings.TRAINING_TIME_LIMIT + 5)
    assert _claim(history, old.id, "train@here").attempts == 2


def test_a_gone_trainers_runs_are_published_again_and_claimable_anywhere(history, purged_queues):
    liveness.broker_data_lost()  # Redis's data is seen: the rescue here is the dead trainer's
    holder = subprocess.Popen(["sleep", "60"])  # a process that lives: the node is judged, not it
    try:
        running = _running(history, worker="train@ghost", pid=holder.pid, age_s=5)
        taken, elsewhere = _stored_run(history), _stored_run(history)
        liveness.heartbeat("train@ghost", time.time())
        liveness.took("train@ghost", taken.id)
        liveness.took("train@ghost", elsewhere.id)
        cache.redis_client().delete(liveness.alive_key("train@ghost"))  # as if its TTL lapsed
        # A run it took that a live trainer has started meanwhile is not touched.
        history.TrainingRun.objects(id=elsewhere.id).update_one(
            set__status="running",
            set__started_at=history.now(),
            set__worker="train@other",
            set__worker_pid=os.getpid(),
            set__attempts=1,
        )
        liveness.heartbeat("train@other", time.time() - 60)

        published = []
        assert _rescue(published) == {"train@ghost": [running.id, taken.id]}
        assert published == [running.id, taken.id]
        assert history.training_get(elsewhere.id).requeued_at is None
        # Published once: until a delivery claims it, the next sweeps leave it be.
        assert _rescue(published) == {"train@ghost": []}
        assert published == [running.id, taken.id]

        # Orphaned, the running one is claimed by the first delivery, on any trainer.
        claimed = _claim(history, running.id, "train@new")
        assert (claimed.attempts, claimed.worker) == (2, "train@new")
        assert _claim(history, running.id, "train@newer") is None
    finally:
        holder.kill()
        holder.wait()
        liveness.farewell("train@other")


def test_what_a_restarted_trainer_or_a_dead_pool_process_held_is_published_again(history, purged_queues):
    liveness.broker_data_lost()
    dead = subprocess.Popen(["true"])
    dead.wait()
    # Claimed by the node's earlier run (before it restarted in place under the same name,
    # 10 s ago), by a pool process of its current run that died since, and by a live one.
    earlier = _running(history, worker="train@again", pid=os.getpid(), age_s=30)
    lost = _running(history, worker="train@again", pid=dead.pid, age_s=5)
    live = _running(history, worker="train@again", pid=os.getpid(), age_s=5)
    published = []
    try:
        liveness.pool_known(SimpleNamespace(info={"processes": [os.getpid()]}))
        liveness.heartbeat("train@again", time.time() - 10)
        assert _rescue(published) == {"train@again": [earlier.id, lost.id]}
        assert published == [earlier.id, lost.id]
        assert history.training_get(live.id).requeued_at is None
        assert _rescue(published) == {}
    finally:
        liveness.pool_known(None)
        liveness.farewell("train@again")


def test_a_run_whose_trainers_kept_dying_ends_failed_with_the_reason(history):
    attempts = settings.TRAINING_MAX_ATTEMPTS
    run = _running(history, worker="train@ghost", pid=None, attempts=attempts, age_s=5)
    history.TrainingRun.objects(id=run.id).update_one(set__requeued_at=history.now())  # orphaned
    decision = training_execute(
        run.id, stale_before=stale_cutoff(settings.TRAINING_TIME_LIMIT), max_attempts=attempts, worker="t"
    )
    assert decision is None
    failed = history.training_get(run.id)
    assert failed.status == "failed"
    assert failed.error == f"gave up after {attempts} attempts that never finished (worker lost)"


# --- Real trainers ---------------------------------------------------------------------------


@pytest.fixture
def gate(tmp_path):
    """While this file exists, a held trainer holds each training at its start."""
    path = tmp_path / "hold-trainings"
    path.touch()
    return path


@pytest.fixture
def held_trainer(gate, mongo_server, purged_queues, django_db_setup):
    """A real trainer (tests/workers/slow_training.py) on a queue of its own, so that the
    first message of a run reaches it and no other; what the rescue publishes again goes to
    the `train` queue, as in production. Short heartbeats: a test waits for them to lapse."""
    started = []

    def start():
        queue = f"train-held-{uuid.uuid4().hex[:6]}"
        env = {"DATABASE_URL": shared_database_url(), "WORKER_HEARTBEAT_TTL_S": "4", "TRAIN_GATE": str(gate)}
        proc = start_worker(queue, env, app="tests.workers.slow_training")
        proc.queue = queue
        started.append(proc)
        return proc

    yield start
    gate.unlink(missing_ok=True)  # what it holds goes on, so a warm shutdown is quick
    for proc in started:
        if proc.poll() is None:
            stop(proc, timeout=60)


def _submit(trainer):
    run = training_request(model_name="breast_cancer", params={}, requested_by=1)
    train_task.apply_async(args=[run.id], task_id=run.id, queue=trainer.queue)
    return run


def _held_by(history, run_id: str, trainer):
    """The run, once `trainer` has claimed it (it is then held at its start)."""
    found = {}

    def claimed():
        run = history.training_get(run_id)
        found["run"] = run
        return run.status == "running" and run.worker == trainer.node

    wait_until(claimed, timeout=60, what=f"the run claimed by {trainer.node}")
    return found["run"]


def _finished(history, run_id: str, *, timeout: float = 120):
    found = {}

    def ended():
        found["run"] = history.training_get(run_id)
        return found["run"].status in ("succeeded", "failed")

    wait_until(ended, timeout=timeout, what="the run finished")
    return found["run"]


def _pool_pids(trainer) -> list[int]:
    return [process.pid for process in process_tree(trainer.pid)[1:]]


def test_a_trainer_killed_mid_training_has_its_run_trained_again_by_another(
    history, model_version, train_worker, held_trainer
):
    liveness.broker_data_lost()  # Redis's data is seen: what the rescue does here is the kill's
    doomed = held_trainer()
    run = _submit(doomed)
    held = _held_by(history, run.id, doomed)
    assert held.attempts == 1
    assert held.worker_pid in _pool_pids(doomed)

    signal_all(process_tree(doomed.pid), signal.SIGKILL)
    doomed.wait()
    killed_at = time.monotonic()

    def rescued():
        rescue_orphaned_jobs_task()
        return history.training_get(run.id).requeued_at is not None

    wait_until(rescued, timeout=30, what="the dead trainer's run published again")
    print(f"run published again {time.monotonic() - killed_at:.1f} s after the kill")

    finished = _finished(history, run.id)
    assert finished.status == "succeeded", finished.error
    assert finished.attempts == 2
    assert finished.worker == train_worker.node
    assert finished.decision == "promoted"
    # One new version, registered and promoted once.
    assert ModelVersion.objects.filter(training_run_id=run.id).count() == 1
    assert ModelVersion.objects.filter(model__name="breast_cancer").count() == 2
    assert finished.version == 2
    # Forgotten once rescued: the next sweeps do not publish its run again.
    assert doomed.node.encode() not in cache.redis_client().smembers(liveness.WORKERS)
    assert rescue_orphaned_jobs_task() == 0


def test_a_run_a_live_trainer_holds_is_not_touched_by_the_rescue(history, model_version, held_trainer, gate):
    liveness.broker_data_lost()
    trainer = held_trainer()
    run = _submit(trainer)
    held = _held_by(history, run.id, trainer)
    redis = cache.redis_client()

    def beats_with_its_process():
        seen = redis.get(liveness.alive_key(trainer.node))
        return seen is not None and held.worker_pid in (json.loads(seen)["pids"] or [])

    # Its heartbeat lists the process that holds the run: the rescue judges the run by it.
    wait_until(beats_with_its_process, timeout=30, what="a heartbeat listing the trainer's process")
    published = []
    assert trainer.node not in _rescue(published)
    rescue_orphaned_jobs_task()  # the beat's task itself: it would mark the run before publishing it
    assert run.id not in published
    still = history.training_get(run.id)
    assert (still.status, still.worker, still.worker_pid, still.attempts, still.requeued_at) == (
        "running",
        trainer.node,
        held.worker_pid,
        1,
        None,
    )

    gate.unlink()  # let it go on: it ends the run itself
    finished = _finished(history, run.id)
    assert finished.status == "succeeded", finished.error
    assert (finished.attempts, finished.worker_pid) == (1, held.worker_pid)
    assert ModelVersion.objects.filter(training_run_id=run.id).count() == 1


def test_a_second_message_for_a_run_a_live_trainer_holds_passes_it_by(
    history, model_version, train_worker, held_trainer, gate
):
    trainer = held_trainer()
    run = _submit(trainer)
    held = _held_by(history, run.id, trainer)

    training_enqueue(run.id)  # the same task again, to the train queue: the other trainer takes it
    passed = f"training run {run.id} is finished, gone or running elsewhere"
    wait_until(
        lambda: passed in log_tail("train-worker", 400), timeout=60, what="the second message passing by"
    )
    still = history.training_get(run.id)
    assert (still.status, still.worker, still.worker_pid, still.attempts) == (
        "running",
        trainer.node,
        held.worker_pid,
        1,
    )

    gate.unlink()
    finished = _finished(history, run.id)
    assert finished.status == "succeeded", finished.error
    assert (finished.attempts, finished.worker) == (1, trainer.node)
    assert ModelVersion.objects.filter(training_run_id=run.id).count() == 1
    assert ModelVersion.objects.filter(model__name="breast_cancer").count() == 2
