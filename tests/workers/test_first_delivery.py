"""A job's first delivery: its message carries the job, its claim is a Redis key
(workers/claims.py), and a one-row job costs MongoDB two writes, its insert and its finish.

The runs are called in this process against the suite's MongoDB and Redis (what a worker
does with one delivery, with no Celery in between); the last test goes through a real
worker.
"""

import threading
import time

import pytest
from pymongo import monitoring

from predictor import history as history_module
from predictor.predictions import _predict, prediction_run, prediction_run_claimed
from tests.clients import wait_for_job
from tests.live import wait_until
from workers import claims
from workers.events import job_event


class Commands(monitoring.CommandListener):
    """Every command this process sends MongoDB while `on`."""

    def __init__(self):
        self.on, self.seen = False, []

    def started(self, event):
        if self.on:
            self.seen.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


_commands = Commands()
monitoring.register(_commands)  # clients made from now on report to it


@pytest.fixture
def commands(history):
    history_module.connect()  # a client made after the register
    _commands.seen.clear()
    yield _commands
    _commands.on = False


def first_delivery(job, worker="predict@here"):
    """What predict_task does with the submit's message: the claim, then the run."""
    message = history_module.job_message(job)
    assert claims.claim(job.id, worker=worker) == claims.OURS
    held = history_module.ClaimedJob.from_message(
        job.id, message, started_at=history_module.now(), worker=worker
    )
    return held


def test_a_one_row_job_costs_mongodb_its_insert_and_its_finish(commands, valid_input, user, model_version):
    commands.on = True
    job = history_module.job_create(
        owner_id=user.pk,
        model="breast_cancer",
        version=model_version.number,
        artifact_sha256=model_version.artifact_sha256,
        sklearn_version=model_version.sklearn_version,
        artifact_signature=model_version.artifact_signature,
        input=valid_input,
    )
    finished = prediction_run_claimed(first_delivery(job), on_event=job_event, mark_after_s=1.0)
    commands.on = False

    assert [each.id for each in finished] == [job.id]
    assert commands.seen == ["insert", "update"]
    stored = history_module.job_get(job.id)
    assert (stored.status, stored.attempts, stored.claimed_by, stored.worker) == (
        "succeeded",
        1,
        job.id,
        "predict@here",
    )
    assert stored.started_at <= stored.completed_at
    # Its end is marked in Redis: the same message delivered again runs nothing.
    assert claims.claim(job.id, worker="predict@elsewhere") == claims.ENDED


def test_a_second_claim_of_a_held_job_is_refused_and_the_holder_is_judged(stored_job):
    job = stored_job()
    first_delivery(job)
    assert claims.claim(job.id, worker="predict@other") == claims.HELD
    holder = claims.holder(job.id)
    assert holder is not None
    assert holder.worker == "predict@here"
    # This very process held it: its earlier run is over. Another node's: not known to be gone.
    assert holder.gone("predict@here")
    assert not holder.gone("predict@other")
    # Its status reads `running` while MongoDB still says queued.
    assert history_module.job_get(job.id).status == "queued"
    assert claims.running_since(job.id) == pytest.approx(time.time(), abs=5)


def test_only_a_fresh_first_message_takes_the_fast_path(stored_job):
    # A message that waited (a backlog, a fault) is claimed in MongoDB: Redis state lost
    # meanwhile cannot let it run twice.
    assert claims.fresh(history_module.job_message(stored_job()))
    assert not claims.fresh(history_module.job_message(stored_job(age_s=claims.FRESH_S + 1)))


def test_a_job_claimed_in_mongodb_or_canceled_is_not_run_by_a_copy_of_its_message(stored_job):
    claimed, canceled = stored_job(), stored_job()
    claims.mark_recorded([claimed.id], worker="predict@other")
    assert claims.claim(claimed.id, worker="predict@here") == claims.RECORDED
    assert claims.holder(claimed.id) is None  # MongoDB's claim decides for other deliveries
    ended, _ = history_module.job_cancel(canceled.id, owner_id=canceled.owner_id)
    job_event("completed", ended)
    assert claims.claim(canceled.id, worker="predict@here") == claims.ENDED


def test_a_run_that_lasts_writes_running_to_mongodb_and_still_finishes(stored_job, monkeypatch):
    job = stored_job()
    held = first_delivery(job)
    seen_running = threading.Event()

    def slow_predict(jobs):
        # Held until MongoDB shows the run (or the test's patience ends), then predicted.
        wait_until(lambda: history_module.job_get(job.id).status == "running", timeout=10, what="running")
        seen_running.set()
        return _predict(jobs)

    monkeypatch.setattr("predictor.predictions._predict", slow_predict)
    finished = prediction_run_claimed(held, mark_after_s=0.05)

    assert seen_running.is_set()
    assert [each.id for each in finished] == [job.id]
    stored = history_module.job_get(job.id)
    assert (stored.status, stored.attempts, stored.worker) == ("succeeded", 1, "predict@here")


def test_a_cancel_during_a_first_delivery_is_kept(stored_job, monkeypatch):
    job = stored_job()
    held = first_delivery(job)

    def canceled_meanwhile(jobs):
        history_module.job_cancel(job.id, owner_id=job.owner_id)
        return _predict(jobs)

    monkeypatch.setattr("predictor.predictions._predict", canceled_meanwhile)
    assert prediction_run_claimed(held, mark_after_s=1.0) == []
    stored = history_module.job_get(job.id)
    assert (stored.status, stored.output) == ("canceled", None)


def test_a_batch_leader_takes_no_job_a_first_delivery_holds(stored_job, monkeypatch):
    leader = stored_job(age_s=1)
    taken_first = stored_job(age_s=1)
    free = stored_job(age_s=1)
    first_delivery(taken_first, worker="predict@other")

    reserve = lambda ids: claims.claim_peers(ids, worker="predict@here", leader=leader.id)  # noqa: E731
    # Held for the batch while it runs: its own first delivery would run nothing.
    in_batch = []

    def predicted(jobs):
        in_batch.append(claims.claim(free.id, worker="predict@there"))
        return _predict(jobs)

    monkeypatch.setattr("predictor.predictions._predict", predicted)
    finished = prediction_run(leader.id, batch_max_jobs=64, reserve_peers=reserve, on_event=job_event)

    assert {job.id for job in finished} == {leader.id, free.id}
    assert in_batch == [claims.RECORDED]
    assert history_module.job_get(taken_first.id).status == "queued"
    # The batched job's own first delivery finds it ended: nothing runs it again.
    assert claims.claim(free.id, worker="predict@here") == claims.ENDED


def test_a_first_delivery_whose_mongodb_failed_gives_its_peers_back(stored_job):
    leader, peer = stored_job(age_s=1), stored_job(age_s=1)
    # The leader's try held it in Redis only and took the peer in MongoDB; none of its ends landed.
    history_module.PredictionJob.objects(id=peer.id).update_one(
        set__status="running", set__claimed_by=leader.id, set__attempts=1
    )
    ended, waiting = history_module.held_ends(leader.id, held=1, peers=[peer.id], in_redis=True)
    assert (ended, waiting) == ([], [peer.id])
    assert history_module.job_get(peer.id).status == "queued"
    # The retry claims the leader in MongoDB now, as any delivery does.
    finished = prediction_run(leader.id, held=1, held_with=[peer.id], held_in_redis=True)
    assert [job.id for job in finished] == [leader.id]


def test_through_a_real_worker_the_message_carries_the_job(
    api, live_worker, valid_input, history, model_version
):
    response = api.post(
        "/api/v1/predictions/", {"model": "breast_cancer", "input": valid_input}, format="json"
    )
    assert response.status_code == 202
    job_id = response.json()["id"]
    finished = wait_for_job(api, job_id)
    assert (finished["status"], finished["attempts"]) == ("succeeded", 1)
    stored = history.job_get(job_id)
    assert stored.claimed_by == job_id
    assert stored.worker.startswith("predict")
