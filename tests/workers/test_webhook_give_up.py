"""A delivery put off (its receiver stayed slow, every slow-lane slot taken) as many times as
WEBHOOK_MAX_DEFERRALS allows is given up, and the job's delivery log says so."""

import pytest

from myproject import metrics
from predictor import webhooks
from workers.tasks import deliver_webhook_task

URL = "https://hooks.example.com/slow"


@pytest.fixture
def counted(monkeypatch) -> list:
    """The (event, outcome) of each platform_webhook_deliveries_total count."""
    calls = []
    monkeypatch.setattr(metrics, "webhook_attempted", lambda event, outcome: calls.append((event, outcome)))
    return calls


@pytest.fixture
def always_slow(monkeypatch):
    def deliver(job_id, event, **options):
        raise webhooks.ReceiverSlow("https://hooks.example.com:443 is slow to answer")

    monkeypatch.setattr(webhooks, "deliver", deliver)


def test_a_delivery_given_up_after_its_deferrals_is_in_the_delivery_log(
    history, stored_job, always_slow, counted, settings, api
):
    job = stored_job(create={"webhook": URL, "webhook_events_filter": ["completed"]}, status="succeeded")
    deferrals = settings.WEBHOOK_MAX_DEFERRALS

    # Run here (eagerly), as the last deferral's delivery would run.
    assert (
        deliver_webhook_task.apply(args=[job.id, "completed"], kwargs={"deferrals": deferrals}).get() is None
    )

    assert counted == [("completed", "given_up")]
    [record] = history.deliveries_for(job.id)
    assert (record.event, record.url, record.attempt, record.status_code) == ("completed", URL, 1, None)
    assert record.message_id == f"msg_{job.id}_completed"
    assert record.error == (
        f"not sent: https://hooks.example.com:443 is slow to answer; put off {deferrals} times, then given up"
    )
    # The owner reads it where every other attempt is.
    [shown] = api.get(f"/api/v1/predictions/{job.id}/webhooks/").json()["results"]
    assert shown["error"] == record.error


def test_a_delivery_put_off_fewer_times_is_put_off_again_not_logged(
    history, stored_job, always_slow, counted, settings, monkeypatch
):
    job = stored_job(create={"webhook": URL, "webhook_events_filter": ["completed"]}, status="succeeded")
    again = []
    monkeypatch.setattr(deliver_webhook_task, "apply_async", lambda **options: again.append(options))

    deliver_webhook_task.apply(
        args=[job.id, "completed"], kwargs={"deferrals": settings.WEBHOOK_MAX_DEFERRALS - 1}
    )

    assert [options["kwargs"] for options in again] == [{"deferrals": settings.WEBHOOK_MAX_DEFERRALS}]
    assert history.deliveries_for(job.id) == []
    assert counted == [("completed", "deferred")]
