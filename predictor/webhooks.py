"""Webhooks: where a user may be called back, and how each call is signed.

Signatures follow the Standard Webhooks scheme (also Replicate's): HMAC-SHA256 over
"{webhook-id}.{webhook-timestamp}.{body}" with the user's secret, sent as
`webhook-signature: v1,<base64>`.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

EVENTS = ("start", "completed")
SECRET_PREFIX = "whsec_"


class InvalidWebhook(Exception):
    pass


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_global and not ip.is_multicast


def url_check(url: str, *, allow_private: bool) -> str:
    """Refuse anything but http(s) to a public address (unless private ones are allowed).

    Checked when a job is submitted and again before each delivery, so a name that later
    resolves to an internal address is still refused.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhook("Must be an http:// or https:// URL with a host.")
    if allow_private:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError):
        raise InvalidWebhook(f"The host {parts.hostname!r} does not resolve.") from None
    if not all(_public(info[4][0]) for info in infos):
        raise InvalidWebhook("Private, loopback and link-local addresses are not allowed.")
    return url


def secret_for(user_id: int) -> str:
    from .models import WebhookSecret

    record, _ = WebhookSecret.objects.get_or_create(user_id=user_id, defaults={"secret": secret_new()})
    return record.secret


class DeliveryFailed(Exception):
    """The endpoint did not answer 2xx; the caller retries with backoff."""


def deliver(job_id: str, event: str, *, attempt: int, allow_private: bool, timeout_s: float) -> int | None:
    """POST the job to its webhook if `event` is in its filter; log the attempt.

    Returns the status code (None when nothing was to be sent); raises DeliveryFailed on a
    non-2xx answer or a network error, so the task can retry.
    """
    from . import history

    job = history.job_get(job_id)
    if job is None or not job.webhook or event not in (job.webhook_events_filter or EVENTS):
        return None
    body = json.dumps(history.job_public(job), separators=(",", ":")).encode()
    message_id = f"msg_{job_id}_{event}"  # the same on every retry, so receivers can de-duplicate
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "prediction-platform-webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            secret_for(job.owner_id), message_id=message_id, timestamp=timestamp, body=body
        ),
    }
    log = {"job_id": job_id, "owner_id": job.owner_id, "event": event, "url": job.webhook,
           "message_id": message_id, "attempt": attempt}  # fmt: skip
    started = time.monotonic()
    try:
        url_check(job.webhook, allow_private=allow_private)
        request = urllib.request.Request(job.webhook, data=body, headers=headers, method="POST")
        with _opener.open(request, timeout=timeout_s) as response:
            code = response.status
    except urllib.error.HTTPError as exc:
        code = exc.code
    except (OSError, InvalidWebhook) as exc:
        history.delivery_log(**log, error=str(exc), duration_s=round(time.monotonic() - started, 3))
        raise DeliveryFailed(str(exc)) from exc
    history.delivery_log(**log, status_code=code, duration_s=round(time.monotonic() - started, 3))
    if not 200 <= code < 300:
        raise DeliveryFailed(f"{job.webhook} answered {code}")
    return code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect could point at an internal address the URL check never saw.
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)
