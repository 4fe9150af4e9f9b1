"""Webhooks: where a user may be called back, and how each call is signed.

Signatures follow the Standard Webhooks scheme (also Replicate's): HMAC-SHA256 over
"{webhook-id}.{webhook-timestamp}.{body}" with the user's secret, sent as
`webhook-signature: v1,<base64>`.
"""

import base64
import hashlib
import hmac
import http.client
import json
import secrets
import threading
import time
from urllib.parse import urlsplit

from myproject import metrics

from . import history

# url_check: the API checks a webhook URL through this module, where delivery re-checks it.
from .webhook_http import InvalidWebhook, post, url_check  # noqa: F401

EVENTS = ("start", "completed")
SECRET_PREFIX = "whsec_"


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def secret_for(user_id: int) -> str:
    from .models import WebhookSecret

    record, _ = WebhookSecret.objects.get_or_create(user_id=user_id, defaults={"secret": secret_new()})
    return record.secret


def _job_body_missing(job):
    raise RuntimeError("no webhook body: the api app sets it when Django starts (api/apps.py)")


# The body of a delivery is the job as its owner sees it through the API. That shape is
# the API's (api/jobs.py), and this module sits below the API: the api app hands the
# function over when Django starts, in every process that sends webhooks.
_job_body = _job_body_missing


def job_body_set(render) -> None:
    global _job_body
    _job_body = render


# A batch job's body, likewise (api/serializers/batches.py). A batch announces its end only.
_batch_body = _job_body_missing
BATCH_EVENTS = ("completed",)


def batch_body_set(render) -> None:
    global _batch_body
    _batch_body = render


def _subject(job_id: str):
    """The prediction job or, when there is none of that id, the batch job a delivery is
    about, how its body is made and the events it announces; (None, None, ()) when neither
    exists."""
    job = history.job_get(job_id)
    if job is not None:
        return job, _job_body, job.webhook_events_filter or EVENTS
    batch = history.batch_get(job_id)
    if batch is not None:
        return batch, _batch_body, BATCH_EVENTS
    return None, None, ()


class DeliveryFailed(Exception):
    """The endpoint did not answer 2xx; the caller retries with backoff."""


class ReceiverSlow(Exception):
    """The receiver is known to be slow and every slow-lane slot is taken: deliver later,
    without using up an attempt (nothing was sent)."""


class Lanes:
    """Keeps receivers that do not answer from holding the threads that answering ones need.

    Kept per notifier process. An origin (scheme, host and port) is slow when its last
    delivery ran out of time (for `slow_for_s`, or until it answers again), or while one of
    its deliveries has waited longer than `slow_after_s` for an answer. A delivery to a slow
    origin needs one of `slots` slow-lane slots and is deferred (ReceiverSlow) when none is
    free. So at most `slots` threads wait on receivers known to be slow; the rest of the pool
    only ever waits on a first delivery to a receiver not yet known to be slow, one per
    receiver (README.md, "Webhooks": how many such receivers the pool absorbs).
    """

    def __init__(self, *, slots: int, slow_after_s: float, slow_for_s: float):
        self.slots, self.slow_after_s, self.slow_for_s = slots, slow_after_s, slow_for_s
        self._lock = threading.Lock()
        self._slow_taken = 0
        self._slow_until: dict[str, float] = {}
        self._in_flight: dict[str, list[float]] = {}  # origin -> when each delivery started

    @staticmethod
    def origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"

    def enter(self, url: str) -> tuple[str, float, bool]:
        """Take a place for one delivery to `url` (give it back with leave()), or raise
        ReceiverSlow."""
        origin, now = self.origin(url), time.monotonic()
        with self._lock:
            slow = self._slow_until.get(origin, 0.0) > now or any(
                now - started > self.slow_after_s for started in self._in_flight.get(origin, ())
            )
            if slow:
                if self._slow_taken >= self.slots:
                    raise ReceiverSlow(f"{origin} is slow to answer and every slow-lane slot is taken")
                self._slow_taken += 1
            self._in_flight.setdefault(origin, []).append(now)
        return origin, now, slow

    def leave(self, ticket: tuple[str, float, bool], *, timed_out: bool) -> None:
        origin, started, slow = ticket
        with self._lock:
            if slow:
                self._slow_taken -= 1
            flights = self._in_flight[origin]
            flights.remove(started)
            if not flights:
                del self._in_flight[origin]
            if timed_out:
                self._slow_until[origin] = time.monotonic() + self.slow_for_s
                if len(self._slow_until) > 10_000:  # forget the origins whose time is up
                    now = time.monotonic()
                    self._slow_until = {key: until for key, until in self._slow_until.items() if until > now}
            else:
                self._slow_until.pop(origin, None)  # it answered (whatever it said): not slow


def _log_fields(job, event: str, attempt: int) -> dict:
    """What every delivery log record of this attempt says (history.delivery_log)."""
    return {
        "job_id": job.id,
        "owner_id": job.owner_id,
        "event": event,
        "url": job.webhook,
        # The same on every retry, so receivers can de-duplicate.
        "message_id": f"msg_{job.id}_{event}",
        "attempt": attempt,
    }


def deliver_given_up(job_id: str, event: str, *, attempt: int, reason: str) -> None:
    """Record in the job's delivery log that this delivery will not be sent, and why (its
    receiver stayed slow through every deferral): the owner sees the end of the story."""
    job, _, _ = _subject(job_id)
    if job is not None and job.webhook:
        history.delivery_log(**_log_fields(job, event, attempt), error=reason)


def deliver(
    job_id: str,
    event: str,
    *,
    attempt: int,
    allow_private: bool,
    timeout_s: float,
    lanes: Lanes | None = None,
    before_sending=None,
) -> int | None:
    """POST the job (or the batch job) to its webhook if `event` is in its filter; log the
    attempt.

    Returns the status code (None when nothing was to be sent); raises DeliveryFailed on a
    non-2xx answer, a network error or the `timeout_s` deadline, so the task can retry, and
    ReceiverSlow when `lanes` defers it. `before_sending` is called once the database reads
    are done, before the network wait (the notifier gives back its database connection).
    """
    job, body_of, events = _subject(job_id)
    if job is None or not job.webhook or event not in events:
        return None
    body = json.dumps(body_of(job), separators=(",", ":")).encode()
    log = _log_fields(job, event, attempt)
    message_id = log["message_id"]
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "prediction-platform-webhooks/1",
        "Connection": "close",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            secret_for(job.owner_id), message_id=message_id, timestamp=timestamp, body=body
        ),
    }
    if before_sending is not None:
        before_sending()
    ticket = lanes.enter(job.webhook) if lanes is not None else None  # may raise ReceiverSlow
    started, timed_out = time.monotonic(), False
    try:
        code = post(job.webhook, body, headers, allow_private=allow_private, timeout_s=timeout_s)
    except (OSError, http.client.HTTPException, InvalidWebhook) as exc:
        timed_out = isinstance(exc, TimeoutError)
        metrics.webhook_attempted(event, _failure_outcome(exc))
        error = str(exc) or type(exc).__name__
        history.delivery_log(**log, error=error, duration_s=round(time.monotonic() - started, 3))
        raise DeliveryFailed(error) from exc
    finally:
        if ticket is not None:
            lanes.leave(ticket, timed_out=timed_out)
    metrics.webhook_attempted(event, "delivered" if 200 <= code < 300 else "http_error")
    history.delivery_log(**log, status_code=code, duration_s=round(time.monotonic() - started, 3))
    if not 200 <= code < 300:
        raise DeliveryFailed(f"{job.webhook} answered {code}")
    return code


def _failure_outcome(exc: Exception) -> str:
    # post (predictor/webhook_http.py) turns every way of running out of time into a
    # TimeoutError (an OSError too).
    if isinstance(exc, InvalidWebhook):
        return "refused"
    return "timeout" if isinstance(exc, TimeoutError) else "network_error"
