"""A job's end is announced to its webhook even when its worker could not reach Redis at
that moment: the delivery waits in the job's outbox and the rescue sweep publishes it.

Redis being away is stood in for by a publish that raises kombu's OperationalError (what
`apply_async(retry=True)` raises once its retries are spent); tests/chaos/test_redis_faults.py
stops the real Redis under load and counts every webhook heard."""

from datetime import timedelta

import pytest
from kombu.exceptions import OperationalError

from workers import events, tasks


@pytest.fixture
def hooked_job(stored_job):
    def make(**options):
        return stored_job(create={"webhook": "https://example.com/hook", **options})

    return make


@pytest.fixture
def published(monkeypatch):
    """The deliveries handed to the notifier; `published.down = True` makes Redis unreachable."""
    sent = []

    def apply_async(args, **options):
        if published.down:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        sent.append(tuple(args))

    def published():
        return sent

    published.down = False
    monkeypatch.setattr(tasks.deliver_webhook_task, "apply_async", apply_async)
    return published


def unsent(history, job_id) -> bool:
    return bool(history.PredictionJob._get_collection().find_one({"_id": job_id}).get("webhook_unsent"))


def test_only_a_job_whose_webhook_wants_the_end_has_it_in_its_outbox(history, hooked_job):
    assert unsent(history, hooked_job().id)
    assert unsent(history, hooked_job(webhook_events_filter=["completed"]).id)
    assert not unsent(history, hooked_job(webhook_events_filter=["start"]).id)


def test_a_published_end_leaves_the_outbox(history, hooked_job, published):
    job = hooked_job()
    events.job_event("completed", history.job_finish(job.id, status="succeeded", output={"x": 1}))
    assert published() == [(job.id, "completed")]
    assert not unsent(history, job.id)


def test_an_end_redis_did_not_take_is_published_by_the_sweep_once_and_the_batch_goes_on(
    history, hooked_job, published, settings
):
    first, second = hooked_job(), hooked_job()
    published.down = True
    # A batch's finish announces each job in turn: the first failure does not stop the rest.
    for job in (first, second):
        events.job_event("completed", history.job_finish(job.id, status="succeeded", output={"x": 1}))
    assert unsent(history, first.id)
    assert unsent(history, second.id)

    published.down = False
    assert tasks.webhooks_resend() == 0  # within the grace: its worker may still hand it over
    settings.WEBHOOK_OUTBOX_GRACE_S = 1
    history.PredictionJob.objects(id__in=[first.id, second.id]).update(
        set__completed_at=history.now() - timedelta(seconds=5)
    )
    assert tasks.webhooks_resend() == 2
    assert sorted(published()) == sorted([(first.id, "completed"), (second.id, "completed")])
    assert tasks.webhooks_resend() == 0  # published once
    assert not unsent(history, first.id)
