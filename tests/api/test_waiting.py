"""Prefer: wait without reading the job back: a finish's Redis message carries what it wrote."""

import signal
import threading
import time
from datetime import timedelta

import pytest

from api.waiting import Waiting
from predictor import history as history_module
from workers.events import MAX_STATE_BYTES, finish_message, finish_state, job_finished_announce


@pytest.fixture
def queued(stored_job):
    return stored_job()


def test_a_waiter_answers_with_the_finish_its_message_carries(queued):
    started = history_module.now()
    output = {"label": "benign", "probabilities": {"benign": 0.9, "malignant": 0.1}}
    state = {
        "status": "succeeded",
        "output": output,
        "error": None,
        "attempts": 1,
        "started_at": started,
        "completed_at": started + timedelta(milliseconds=3),
    }
    waiting = Waiting(5)
    waiting.watch(queued.id)  # from here on its finish's message reaches it
    job_finished_announce(queued.id, state)

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
    job_finished_announce(queued.id, None)

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


@pytest.fixture
def stopping(monkeypatch):
    """This process's "told to stop" flag, fresh for the test (it is never unset otherwise)."""
    from api import waiting as waiting_module

    monkeypatch.setattr(waiting_module, "_process_stopping", threading.Event())
    return waiting_module


def test_a_process_told_to_stop_answers_its_waits_at_once_and_begins_none(queued, stopping):
    # A wait may last 60 s; gunicorn gives a stopping worker graceful_timeout (15 s) to answer
    # what it holds, then cuts it off (tests/chaos/test_web_faults.py saw those cut off).
    answers = []
    waiting = Waiting(60)
    waiting.watch(queued.id)
    held = threading.Thread(target=lambda: answers.append(waiting.wait(queued)))
    held.start()
    held.join(timeout=0.5)
    assert held.is_alive()  # waiting for its job

    stopping.waits_end()
    held.join(timeout=5)

    assert not held.is_alive()
    assert [job.status for job in answers] == ["queued"]  # as it is: the API answers 202
    later = Waiting(60)
    later.watch(queued.id)
    started = time.monotonic()
    assert later.wait(queued).status == "queued"
    assert stopping.job_wait(queued, 60).status == "queued"
    assert time.monotonic() - started < 5  # neither waited
    assert stopping._waiters.acquire(blocking=False)  # every slot was given back
    stopping._waiters.release()


def test_gunicorn_workers_end_their_waits_when_told_to_stop(monkeypatch):
    """SIGTERM to a web worker runs gunicorn's own graceful stop, then ends the waits."""
    from gunicorn.app.wsgiapp import WSGIApplication

    from myproject import gunicorn_conf

    monkeypatch.setattr(
        "sys.argv", ["gunicorn", "-c", "python:myproject.gunicorn_conf", "--bind", "127.0.0.1:0"]
    )
    assert WSGIApplication().cfg.post_worker_init is gunicorn_conf.post_worker_init
    calls, ended = [], threading.Event()
    monkeypatch.setattr("api.waiting.waits_end", ended.set)
    before = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))  # the worker's handler
        gunicorn_conf.post_worker_init(worker=None)
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert calls == [signal.SIGTERM]
    assert ended.wait(timeout=5)
