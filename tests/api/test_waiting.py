"""Prefer: wait without reading the job back: a finish's Redis message carries what it wrote."""

import threading
from datetime import timedelta

import pytest

from api.waiting import Waiting
from predictor import history as history_module
from workers.events import MAX_STATE_BYTES, finish_message, finish_state, job_finished_announce


@pytest.fixture
def queued(history, user, model_version, valid_input):
    return history.job_create(
        owner_id=user.pk, model="breast_cancer", version=model_version.number,
        artifact_sha256=model_version.artifact_sha256, sklearn_version=model_version.sklearn_version,
        input=valid_input,
    )  # fmt: skip


def announce_soon(job_id: str, state) -> threading.Thread:
    thread = threading.Timer(0.2, job_finished_announce, args=(job_id, state))
    thread.start()
    return thread


def test_a_waiter_answers_with_the_finish_its_message_carries(queued):
    started = history_module.now()
    output = {"label": "benign", "probabilities": {"benign": 0.9, "malignant": 0.1}}
    state = {
        "status": "succeeded", "output": output, "error": None, "attempts": 1,
        "started_at": started, "completed_at": started + timedelta(milliseconds=3),
    }  # fmt: skip
    waiting = Waiting(5)
    waiting.watch(queued.id)
    announce_soon(queued.id, state).join()

    job = waiting.wait(queued)

    # MongoDB still says queued: the answer came from the message alone.
    assert history_module.job_get(queued.id).status == "queued"
    assert (job.status, job.output, job.attempts) == ("succeeded", state["output"], 1)
    assert (job.started_at, job.completed_at) == (state["started_at"], state["completed_at"])
    assert job.input == queued.input
    assert job.created_at == queued.created_at


def test_without_the_fields_in_its_message_a_waiter_reads_the_job(queued):
    history_module.job_finish(queued.id, status="canceled", error="canceled by request")
    waiting = Waiting(5)
    waiting.watch(queued.id)
    announce_soon(queued.id, None).join()

    job = waiting.wait(queued)

    assert (job.status, job.error) == ("canceled", "canceled by request")


def test_a_finish_too_big_to_carry_is_announced_bare_and_read_from_mongodb():
    big = {"status": "succeeded", "output": "x" * MAX_STATE_BYTES}
    assert finish_message(big) == b"finished"
    assert finish_state(b"finished") is None
    small = {"status": "failed", "error": "boom", "completed_at": history_module.now()}
    assert finish_state(finish_message(small))["completed_at"] == small["completed_at"]


def test_a_waiter_that_times_out_gives_its_slot_back(queued, settings):
    from api import waiting as waiting_module

    for _ in range(settings.PREDICTION_MAX_WAITERS + 1):
        waiting = Waiting(0.05)
        waiting.watch(queued.id)
        assert waiting.wait(queued).status == "queued"
    assert waiting_module._waiters.acquire(blocking=False)
    waiting_module._waiters.release()
