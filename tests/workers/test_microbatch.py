"""Micro-batching: a worker that takes a one-row job also runs the queued one-row jobs of
the same model version with it, each job keeping its own result, status and events.

prediction_run is called in this process against the suite's MongoDB: what a worker does
with one delivery, with no Celery in between.
"""

from datetime import timedelta

import pytest

from predictor.predictions import prediction_run


class Events:
    def __init__(self):
        self.seen = []

    def __call__(self, event, job):
        self.seen.append((event, job.id))

    def of(self, event):
        return [job_id for name, job_id in self.seen if name == event]


@pytest.fixture
def rows(valid_input):
    """Three different real rows, so each job's output can be told apart."""
    return [valid_input, {**valid_input, "worst_radius": 9.0, "worst_area": 250.0}, valid_input]


def test_one_delivery_runs_the_queued_one_row_jobs_with_it(history, stored_job, rows):
    jobs = [stored_job(input=row, age_s=1) for row in rows]
    events = Events()

    finished = prediction_run(jobs[0].id, on_event=events, batch_max_jobs=64)

    assert [job.id for job in finished] == [job.id for job in jobs]
    stored = [history.job_get(job.id) for job in jobs]
    assert {job.status for job in stored} == {"succeeded"}
    assert {job.claimed_by for job in stored} == {jobs[0].id}
    assert [job.attempts for job in stored] == [1, 1, 1]
    # Each job has its own answer: the same row gives the same output, another row another.
    assert stored[0].output == stored[2].output != stored[1].output
    assert set(stored[0].output) == {"label", "probabilities"}
    assert sorted(events.of("start")) == sorted(events.of("completed")) == sorted(job.id for job in jobs)


def test_a_peers_own_delivery_then_finds_nothing_to_run(history, stored_job, rows):
    leader, peer = stored_job(input=rows[0], age_s=1), stored_job(input=rows[1], age_s=1)
    prediction_run(leader.id, batch_max_jobs=64)
    before = history.job_get(peer.id)

    assert prediction_run(peer.id, batch_max_jobs=64) == []

    after = history.job_get(peer.id)
    assert (after.status, after.attempts, after.completed_at) == ("succeeded", 1, before.completed_at)


def test_it_takes_no_more_than_the_batch_size(history, stored_job, valid_input):
    jobs = [stored_job(input=valid_input, age_s=10 - n) for n in range(5)]

    finished = prediction_run(jobs[0].id, batch_max_jobs=3)

    assert len(finished) == 3
    statuses = [history.job_get(job.id).status for job in jobs]
    # The oldest queued jobs go first.
    assert statuses == ["succeeded", "succeeded", "succeeded", "queued", "queued"]


def test_it_leaves_batch_jobs_jobs_tried_before_and_other_versions_alone(
    history, stored_job, valid_input, model_version
):
    leader = stored_job(input=valid_input, age_s=1)
    batch = stored_job(input=None, inputs=[valid_input, valid_input], age_s=1)
    tried = stored_job(input=valid_input, attempts=1, age_s=1)
    other_version = stored_job(input=valid_input, version=model_version.number + 1, age_s=1)
    other_model = stored_job(input=valid_input, model="iris", age_s=1)

    assert [job.id for job in prediction_run(leader.id, batch_max_jobs=64)] == [leader.id]

    for job in (batch, tried, other_version, other_model):
        assert history.job_get(job.id).status == "queued"


def test_a_job_tried_before_runs_alone(history, stored_job, valid_input):
    # It may be what killed its last worker: it must not take others down with it.
    retried = stored_job(input=valid_input, status="running", attempts=1, claimed_by=None, age_s=1)
    fresh = stored_job(input=valid_input, age_s=1)

    assert [job.id for job in prediction_run(retried.id, batch_max_jobs=64)] == [retried.id]
    assert history.job_get(fresh.id).status == "queued"


def test_a_peer_canceled_during_the_batch_stays_canceled(history, stored_job, rows, user):
    leader, peer = stored_job(input=rows[0], age_s=1), stored_job(input=rows[1], age_s=1)
    events = Events()

    def cancel_the_peer_once_it_starts(event, job):
        events(event, job)
        if (event, job.id) == ("start", peer.id):
            history.job_cancel(peer.id, owner_id=user.pk)

    finished = prediction_run(leader.id, on_event=cancel_the_peer_once_it_starts, batch_max_jobs=64)

    assert [job.id for job in finished] == [leader.id]
    assert history.job_get(peer.id).status == "canceled"
    assert history.job_get(peer.id).output is None
    assert events.of("completed") == [leader.id]  # the cancel announces its own job


def test_a_peer_past_its_deadline_is_canceled_not_run(history, stored_job, rows):
    leader = stored_job(input=rows[0], age_s=1)
    late = stored_job(input=rows[1], cancel_after=history.now() - timedelta(seconds=1), age_s=1)

    prediction_run(leader.id, batch_max_jobs=64)

    assert history.job_get(leader.id).status == "succeeded"
    assert (history.job_get(late.id).status, history.job_get(late.id).output) == ("canceled", None)


def test_a_failure_ends_every_job_of_the_batch(history, stored_job, rows, monkeypatch):
    from predictor import predictions

    jobs = [stored_job(input=row, age_s=1) for row in rows]
    monkeypatch.setattr(predictions, "predict_rows", lambda *a: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        prediction_run(jobs[0].id, batch_max_jobs=64)

    for job in jobs:
        stored = history.job_get(job.id)
        assert (stored.status, stored.error) == ("failed", "prediction failed: division by zero")


def test_a_redelivered_leader_sends_its_unfinished_peers_back_to_the_queue(history, stored_job, rows):
    leader, peer = stored_job(input=rows[0], age_s=1), stored_job(input=rows[1], age_s=1)
    # A first delivery claims both, then its worker dies before finishing either.
    first, _ = history.job_claim(leader.id)
    assert [job.id for job in history.peers_claim(first, limit=63)] == [peer.id]
    requeued = []

    finished = prediction_run(leader.id, requeue=requeued.append, batch_max_jobs=64)

    assert [job.id for job in finished] == [leader.id]  # it runs alone now: attempt 2
    assert history.job_get(leader.id).attempts == 2
    assert requeued == [peer.id]
    back = history.job_get(peer.id)
    assert (back.status, back.claimed_by, back.attempts) == ("queued", None, 1)
    # Published again, it runs alone too: it has been tried before.
    assert [job.id for job in prediction_run(peer.id, batch_max_jobs=64)] == [peer.id]


def test_a_job_held_by_a_batch_the_sweeper_declared_dead_can_be_claimed(history, stored_job, rows):
    leader, peer = stored_job(input=rows[0], age_s=1), stored_job(input=rows[1], age_s=1)
    first, _ = history.job_claim(leader.id)
    history.peers_claim(first, limit=63)
    assert prediction_run(peer.id, batch_max_jobs=64) == []  # its batch may still finish it
    # Past the hard time limit the sweeper re-publishes it and marks it so.
    history.PredictionJob.objects(id=peer.id).update_one(
        set__requeued_at=history.now() + timedelta(seconds=1)
    )

    assert [job.id for job in prediction_run(peer.id, batch_max_jobs=64)] == [peer.id]
    assert history.job_get(peer.id).attempts == 2


def test_a_worker_keeping_up_runs_a_fresh_job_alone(history, stored_job, rows, monkeypatch):
    # Started as soon as it was queued: nothing says others wait, so no look for them.
    from predictor.history import claims
    from predictor.predictions import BEHIND

    waiting = stored_job(input=rows[1], age_s=1)
    fresh = stored_job(input=rows[0])
    # Claimed half of BEHIND after it was queued, however long this machine took to get
    # here (writing the two jobs may itself take longer than BEHIND on a loaded host).
    monkeypatch.setattr(claims, "now", lambda: fresh.created_at + BEHIND / 2)

    assert [job.id for job in prediction_run(fresh.id, batch_max_jobs=64)] == [fresh.id]
    assert history.job_get(waiting.id).status == "queued"
    assert history.job_get(fresh.id).started_at == fresh.created_at + BEHIND / 2


def test_ends_mongodb_does_not_take_are_left_to_the_tasks_retry_not_failed(
    history, stored_job, rows, monkeypatch
):
    # MongoDB refuses the batch's finish (its disk filled: tests/chaos/test_mongo_faults.py)
    # and answers again a moment later. No job is ended as failed for it, though every
    # prediction succeeded: they stay running, held by the task, whose retry writes them.
    jobs = [stored_job(input=row, age_s=1) for row in rows]
    finish, tries = history.claimed_finish, []

    def refused_once(results):
        tries.append([job.id for job, _ in results])
        if len(tries) == 1:
            raise history.HistoryUnavailable("MongoDB could not do the work (1 InternalError)")
        return finish(results)

    monkeypatch.setattr(history, "claimed_finish", refused_once)

    with pytest.raises(history.HistoryUnavailable):
        prediction_run(jobs[0].id, batch_max_jobs=64)

    assert len(tries) == 1  # no second write, of a failure
    assert {history.job_get(job.id).status for job in jobs} == {"running"}
    # The task's retry: the leader runs again, alone; its peers go back to the queue.
    requeued = []
    finished = prediction_run(jobs[0].id, requeue=requeued.append, batch_max_jobs=64, held=1)
    assert [job.id for job in finished] == [jobs[0].id]
    assert sorted(requeued) == sorted(job.id for job in jobs[1:])
    for peer in jobs[1:]:
        assert [job.id for job in prediction_run(peer.id, batch_max_jobs=64)] == [peer.id]
    assert {history.job_get(job.id).status for job in jobs} == {"succeeded"}


def test_a_batch_end_mongodb_took_in_part_is_announced_by_the_retry(history, stored_job, rows, monkeypatch):
    # A batch's ends are one write each: MongoDB, its disk filling, took the leader's and the
    # first peer's and refused the last (tests/chaos/test_mongo_faults.py), and the worker
    # only heard the failure. Its retry announces the two ends (their webhooks, waiters)
    # and sends the last peer back to the queue: nothing else would, before the sweeper.
    leader, *peers = [stored_job(input=row, age_s=1) for row in rows]
    finish, holding = history.claimed_finish, []

    def took_in_part(results):
        finish(results[:2])
        raise history.HistoryUnavailable("MongoDB could not do the work (1 InternalError)")

    monkeypatch.setattr(history, "claimed_finish", took_in_part)
    with pytest.raises(history.HistoryUnavailable):
        prediction_run(leader.id, batch_max_jobs=64, on_claimed=holding.append)
    monkeypatch.undo()
    lead, *held_with = holding[-1]
    assert [job.id for job in held_with] == [peer.id for peer in peers]
    assert [history.job_get(job.id).status for job in (leader, *peers)] == [
        "succeeded",
        "succeeded",
        "running",
    ]

    events, requeued = Events(), []
    finished = prediction_run(
        leader.id,
        on_event=events,
        requeue=requeued.append,
        batch_max_jobs=64,
        held=lead.attempts,
        held_with=[job.id for job in held_with],
    )

    assert finished == []  # nothing to run again
    assert sorted(events.of("completed")) == sorted([leader.id, peers[0].id])
    assert requeued == [peers[1].id]
    back = history.job_get(peers[1].id)
    assert (back.status, back.claimed_by) == ("queued", None)
    assert [job.id for job in prediction_run(peers[1].id, batch_max_jobs=64)] == [peers[1].id]
    # A retry of an attempt that is not the job's last (another delivery claimed it since)
    # leaves it all alone.
    assert history.held_ends(leader.id, held=lead.attempts - 1, peers=[peers[0].id]) == ([], [])
